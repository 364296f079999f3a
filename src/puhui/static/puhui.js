// Let HTMX swap 4xx answers (validation errors, expired forms) into the page instead of
// dropping them silently; 5xx still go to the error handler.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status >= 400 && status < 500) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
