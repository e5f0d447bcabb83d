// The sign-in page: which failure to show, and the language switch (no inline script: the CSP forbids it).
const failed = new URLSearchParams(location.search).get("failed");
if (failed === "expired") document.getElementById("expired").hidden = false;
else if (failed) document.getElementById("failed").hidden = false;
document.getElementById("lang").addEventListener("click", () => I18N.toggle());
I18N.apply();
