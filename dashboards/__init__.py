"""The Streamlit dashboard and the Grafana dashboard generator."""
