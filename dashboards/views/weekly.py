"""The weekly report."""

from dashboards.views.periodic import render

render("weekly")
