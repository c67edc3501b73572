"""The synthetic world: seeded customers who apply, spend, pay and miss payments,
driving the real HTTP API while the sandbox clock moves days forward."""
