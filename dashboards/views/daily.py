"""The daily report."""

from dashboards.views.periodic import render

render("daily")
