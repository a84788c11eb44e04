// A partial update the server refused or failed (a 4xx or 5xx page): htmx swaps nothing, and
// the person would see nothing happen. The page's title and message are shown instead, in
// the alert at the top of the page; a network failure says so too.
(function () {
  function show(text) {
    var region = document.getElementById("partial-error");
    if (!region) return;
    region.textContent = text;
    region.hidden = false;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var answer = event.detail.xhr;
    var page = new DOMParser().parseFromString(answer.responseText || "", "text/html");
    var title = page.querySelector("h1");
    var said = page.querySelector(".problem:not(#partial-error)");
    var words = said ? said.textContent.trim() : "The request failed (" + answer.status + ").";
    show(title ? title.textContent.trim() + ": " + words : words);
  });

  document.addEventListener("htmx:sendError", function () {
    show("The service could not be reached; nothing was changed. Try again.");
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var region = document.getElementById("partial-error");
    if (region && event.detail.successful) region.hidden = true;
  });
})();
