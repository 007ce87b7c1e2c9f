"""One file per page; app.PAGES lists them."""
