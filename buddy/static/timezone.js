// Progressive enhancement of "Your time zone now" (templates/signup/_profile_fields.html).
// Without JavaScript the person chooses, and the server proposes from the mobile number when
// the form comes back. With it, a zone is proposed as they type: the browser's own zone first
// (where the phone is now), else the zone of the mobile number. The person always sees and
// sends it; a zone they chose themselves is never changed.
const select = document.getElementById("timezone");
const note = document.getElementById("timezone-proposed");

if (select && note) {
  const form = select.form;
  // A zone the server chose from the mobile number (sign-up's time zone page) is a proposal
  // too: the phone's own clock, where it has a zone, comes first.
  let chosenByPerson = select.value !== "" && select.value !== note.dataset.phoneZone;
  let proposedBy = null;

  const propose = (zone, by, words) => {
    if (chosenByPerson || !zone) return;
    const option = [...select.options].find((o) => o.value === zone);
    if (!option) return;
    select.value = zone;
    proposedBy = by;
    note.textContent = `${words} Check it, or choose another.`;
    note.hidden = false;
  };

  select.addEventListener("change", () => {
    chosenByPerson = true;
    note.hidden = true;
  });

  // Browsers name some zones the old way (Asia/Calcutta for Asia/Kolkata): compare the
  // names Intl gives for each option with the browser's.
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const sameAsBrowser = (value) => {
    try {
      return new Intl.DateTimeFormat("en", { timeZone: value }).resolvedOptions().timeZone
        === browserZone;
    } catch {
      return false;
    }
  };
  if (browserZone) {
    const match = [...select.options].find(
      (o) => o.value && (o.value === browserZone || sameAsBrowser(o.value)));
    if (match) propose(match.value, "browser", "We chose this from your phone's settings.");
  }

  const phone = document.getElementById("phone");
  const country = document.getElementById("phone_country");
  const token = form && form.querySelector("input[name=csrf_token]");
  const ask = async () => {
    if (chosenByPerson || proposedBy === "browser" || !phone.value.trim()) return;
    const body = new URLSearchParams({
      phone: phone.value, phone_country: country ? country.value : "",
      csrf_token: token ? token.value : "",
    });
    try {
      const response = await fetch(note.dataset.url, { method: "POST", body });
      if (!response.ok) return;
      const answer = await response.json();
      if (!answer.zone && proposedBy === "phone") {
        // A new number that points nowhere (a country with several zones): ask again.
        select.value = "";
        proposedBy = null;
        note.hidden = true;
      }
      propose(answer.zone, "phone", "We chose this from your mobile number.");
    } catch {
      // Offline or refused: the person chooses, as without JavaScript.
    }
  };
  if (phone) phone.addEventListener("change", ask);
  if (country) country.addEventListener("change", ask);
}
