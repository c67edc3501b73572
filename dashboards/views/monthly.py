"""The monthly report."""

from dashboards.views.periodic import render

render("monthly")
