// The count sheet: a count refused for what it said (422, 409) comes back as its row, with
// why; htmx swaps only successes by default, so this lets those rows in (and nothing else).
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  var from = event.detail.requestConfig && event.detail.requestConfig.elt;
  if ((status === 422 || status === 409) && from && from.hasAttribute("data-refusals-swap")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
