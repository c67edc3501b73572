def test_parallel_days_split_accounts_by_house_shard() -> None:
    """Two threads of run_day never share a house row: an account goes to its shard's group."""
    from api.ids import new_id
    from api.jobs.daily import _by_house_shard
    from api.ledger import service as ledger

    accounts = [new_id("acct") for _ in range(300)]
    assert _by_house_shard(accounts, 1) == [accounts]
    groups = _by_house_shard(accounts, 3)
    assert sorted(a for g in groups for a in g) == sorted(accounts)
    for kind in ledger.House:
        shards = [{ledger.house(kind, a) for a in group} for group in groups]
        assert all(not (shards[i] & shards[j]) for i in range(3) for j in range(i + 1, 3))
