"""Sphinx configuration of the vfiolab course site (``make html``).

``scripts/build_site.py`` executes every notebook first (nbclient, with the
widget state stored), puts the executed copies beside this file in a scratch
source folder and runs Sphinx on it: myst-nb renders the notebooks as they
ran (``nb_execution_mode = "off"``), sphinx-book-theme gives the navigation,
search and per-page contents.  Nothing is loaded from the network: the
widget manager is the vendored copy (vendor/html-manager-*, copied into
``_static/``), no require.js, no MathJax CDN.
"""

project = "vfiolab"
author = "the vfiolab authors"
copyright = "vfiolab authors, MIT licence"
html_title = "vfiolab: where a passed-through device's BARs go"

extensions = ["myst_nb"]
# the notebooks were executed by scripts/build_site.py, which names a failing cell
nb_execution_mode = "off"
# widget views render with the vendored @jupyter-widgets/html-manager (standalone
# build: no require.js), which scripts/build_site.py copies to _static/vendor/
# (a relative script path is taken relative to _static/)
nb_ipywidgets_js = {"vendor/html-manager-1.0.15/embed.js": {}}
myst_enable_extensions = ["colon_fence", "deflist"]
# Sphinx adds MathJax (from its CDN) only to pages with math; there is none, and
# scripts/build_site.py fails the build if any page would load it

exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["vfiolab.css"]
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    # arrow keys belong to the widgets (a slider handle is not an <input>,
    # and the theme would turn ArrowRight into "next page")
    "navigation_with_keys": False,
    "show_navbar_depth": 1,
    # no analytics, no icon links: nothing that reaches out
    "icon_links": [],
}
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
