"""The cardportal dashboards: ``streamlit run dashboards/app.py`` (or ``cardportal dashboards``)."""

from __future__ import annotations

import sys
from pathlib import Path

# Streamlit runs this file as a script: make the repository importable (dashboards, cardportal).
_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import streamlit as st  # noqa: E402

from dashboards import auth  # noqa: E402

st.set_page_config(page_title="cardportal dashboards", page_icon=":material/credit_card:", layout="wide")

pages = {
    "Reports": [
        st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("views/daily.py", title="Daily", icon=":material/today:"),
        st.Page("views/weekly.py", title="Weekly", icon=":material/date_range:"),
        st.Page("views/monthly.py", title="Monthly", icon=":material/calendar_month:"),
        st.Page("views/report_files.py", title="Report files", icon=":material/folder_open:"),
    ],
    "Analysis": [
        st.Page("views/spending.py", title="Spending", icon=":material/shopping_cart:"),
        st.Page("views/credit_risk.py", title="Credit risk", icon=":material/warning:"),
        st.Page("views/payments.py", title="Payments", icon=":material/payments:"),
        st.Page("views/applications.py", title="Applications", icon=":material/how_to_reg:"),
        st.Page("views/revenue.py", title="Revenue", icon=":material/account_balance:"),
    ],
    "Operations": [
        st.Page("views/api_health.py", title="API health", icon=":material/monitor_heart:"),
        st.Page("views/data_quality.py", title="Data quality", icon=":material/fact_check:"),
    ],
}

principal = auth.current()
if principal is None:
    # Nothing but the sign-in form until the API says who this is (analyst, finance or admin).
    st.navigation([st.Page(auth.sign_in_page, title="Sign in", icon=":material/login:")]).run()
elif principal.enrolment_only:
    # Production staff without a second factor: the API allows nothing but enrolment.
    auth.sidebar(principal)
    st.navigation([st.Page(auth.enrol_page, title="Second factor", icon=":material/key:")]).run()
else:
    auth.sidebar(principal)
    st.navigation(pages).run()
