"""Custom Streamlit components of the app (their browser code is built by the Makefile)."""
