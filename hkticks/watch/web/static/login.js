// The token goes in a header (never in a URL, so never in the browser's history).
"use strict";
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("login-error");
  const resp = await fetch("/login", {
    headers: { "X-Hkticks-Auth": document.getElementById("token").value },
    credentials: "same-origin",
  });
  if (resp.ok) {
    location.replace("/");
    return;
  }
  error.hidden = false;
  error.textContent = resp.status === 429 ? "Too many wrong tokens: wait a minute." : "Wrong token.";
});
