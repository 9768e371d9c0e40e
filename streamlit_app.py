"""Field Matching Lab: the Streamlit entry point (a router over the pages in app/pages/)."""

import streamlit as st

st.set_page_config(page_title="Field Matching Lab", layout="wide")
st.title("Field Matching Lab")
st.write("Electrostatic Field Matching, interactive. The pages arrive with the app issue.")
