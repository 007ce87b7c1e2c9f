"""The Streamlit dashboard: ``streamlit run dashboard/app.py`` (see app.py)."""
