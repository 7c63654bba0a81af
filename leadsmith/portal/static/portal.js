// A little help where it matters: copy a new key, switch example tabs (keyboard too), confirm revocation.
document.addEventListener("click", (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const text = document.getElementById(copy.dataset.copy).textContent.trim();
    navigator.clipboard?.writeText(text).then(() => { copy.textContent = "Copied"; }, () => {});
  }
  const tab = event.target.closest('[role="tab"]');
  if (tab) select(tab);
});

document.addEventListener("keydown", (event) => {
  const tab = event.target.closest?.('[role="tab"]');
  if (!tab || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
  const tabs = [...tab.parentElement.querySelectorAll('[role="tab"]')];
  let i = tabs.indexOf(tab);
  if (event.key === "ArrowLeft") i = (i - 1 + tabs.length) % tabs.length;
  if (event.key === "ArrowRight") i = (i + 1) % tabs.length;
  if (event.key === "Home") i = 0;
  if (event.key === "End") i = tabs.length - 1;
  select(tabs[i]);
  tabs[i].focus();
  event.preventDefault();
});

function select(tab) {
  // Every example block on the page follows the chosen language.
  const lang = tab.dataset.lang;
  for (const group of document.querySelectorAll("[data-tabs]")) {
    for (const t of group.querySelectorAll('[role="tab"]')) {
      const on = t.dataset.lang === lang;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
    }
    for (const p of group.querySelectorAll('[role="tabpanel"]')) p.hidden = p.dataset.lang !== lang;
  }
}

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// Enrich a list: the columns of the chosen CSV, read here (nothing is sent until the form is), each
// select set to the column whose header reads as its field.
const SPELLINGS = {
  linkedin: ["linkedin", "linkedinid", "linkedinurl", "linkedinprofile", "linkedinprofileurl", "profileurl", "linkedinslug"],
  name: ["name", "fullname", "displayname"],
  first: ["firstname", "first", "givenname", "forename"],
  last: ["lastname", "last", "surname", "familyname"],
  domain: ["domain", "companydomain", "website", "companywebsite", "emaildomain"],
};
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.form?.matches("#bulk-form")) return;
  const file = input.files?.[0];
  if (!file) return;
  file.slice(0, 65536).text().then((text) => {
    const first = text.split(/\r?\n/, 1)[0];
    const delimiter = [",", ";", "\t", "|"].reduce((a, b) => (first.split(b).length > first.split(a).length ? b : a));
    const header = first.split(delimiter).map((h) => h.trim().replace(/^"|"$/g, ""));
    for (const select of input.form.querySelectorAll("select[data-column]")) {
      select.replaceChildren(new Option("(none)", ""), ...header.map((h) => new Option(h, h)));
      const wanted = SPELLINGS[select.dataset.column];
      const found = header.find((h) => wanted.includes(h.toLowerCase().replace(/[^a-z0-9]/g, "")));
      if (found) select.value = found;
    }
  });
});
