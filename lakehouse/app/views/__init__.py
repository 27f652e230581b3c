"""The app's pages, one Streamlit script each; ``main.py`` runs them through ``st.navigation``, nothing imports them."""
