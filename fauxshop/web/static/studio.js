// Studio: seed and truncation, attribute sliders, style mixing, projection of an uploaded
// photo, similar real products, save. Every change re-renders through the API.
const $ = (id) => document.getElementById(id);
let latent = null; // a projected photo's id, edited instead of the seed when set

function source() {
  return latent ? { latent } : { seed: Number($("seed").value), psi: Number($("psi").value) };
}

function strengths() {
  const out = {};
  for (const input of document.querySelectorAll("#sliders input")) {
    out[input.dataset.direction] = Number(input.value);
  }
  return out;
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error((await response.json()).detail);
  return response;
}

async function render() {
  try {
    const response = await post("/api/edit", { ...source(), strengths: strengths() });
    const old = $("photo").src;
    $("photo").src = URL.createObjectURL(await response.blob());
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    $("caption").textContent = latent ? "projected photo" : `seed ${$("seed").value}`;
    $("status").textContent = "";
  } catch (error) {
    $("status").textContent = error.message;
  }
}

function renderMix() {
  const params = new URLSearchParams({
    row: $("seed").value, col: $("mix-seed").value, styles: $("mix-styles").value,
    psi: $("psi").value,
  });
  $("mix").src = `/api/mix?${params}`;
}

async function loadSliders() {
  const directions = await (await fetch("/api/directions")).json();
  for (const d of directions) {
    const label = document.createElement("label");
    label.textContent = d.name;
    const input = document.createElement("input");
    // the server's range for the slider: the strengths its generator still draws cleanly
    Object.assign(input, { type: "range", min: d.min, max: d.max, step: 0.25, value: 0 });
    input.dataset.direction = d.name;
    input.addEventListener("change", render);
    label.appendChild(input);
    $("sliders").appendChild(label);
  }
}

async function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("photo", file);
  $("status").textContent = "projecting…";
  const response = await fetch("/api/project", { method: "POST", body: form });
  const result = await response.json();
  if (!response.ok) {
    $("status").textContent = result.detail;
    return;
  }
  latent = result.latent;
  await render();
  $("status").textContent = `projected: PSNR ${result.psnr.toFixed(1)} dB`;
}

async function similar() {
  const found = await (await post("/api/similar", { ...source(), k: 6 })).json();
  $("results").replaceChildren(...found.map((item) => {
    const figure = document.createElement("figure");
    figure.className = "similar";
    figure.innerHTML = `<img alt="${item.sku}" src="${item.image}"><figcaption>${item.sku}` +
      `<br>${item.distance.toFixed(2)}</figcaption>`;
    return figure;
  }));
}

async function save() {
  if (latent) {
    $("status").textContent = "saving works on seeds; a projected photo is not a new product";
    return;
  }
  const saved = await (await post("/api/save", source())).json();
  $("status").textContent = `saved ${saved.sku} (${saved.status}): ${saved.title}`;
}

// Describe it, see it: the shopper's words to products, each with what was asked, what the
// tagger sees in its photo, and its description. Text goes in as text, never as HTML.
async function design(event) {
  event.preventDefault();
  $("design-status").textContent = "designing…";
  $("design-results").replaceChildren();
  const body = {
    request: $("design-request").value, n: Number($("design-n").value),
    method: $("design-method").value,
  };
  let found;
  try {
    found = await (await post("/api/design", body)).json();
  } catch (error) {
    $("design-status").textContent = error.message;
    return;
  }
  const asked = Object.entries(found.request.targets).map(([k, v]) => `${k}: ${v}`).join(", ");
  const unknown = found.request.unknown.length
    ? `; not understood: ${found.request.unknown.join(", ")}` : "";
  const matched = found.products.filter((p) => p.matches).length;
  $("design-status").textContent = `asked ${asked}${unknown} · ${matched} of ` +
    `${found.products.length} match (${found.method}, ${found.seconds.toFixed(1)} s)`;
  $("design-results").replaceChildren(...found.products.map((product) => {
    const card = document.createElement("figure");
    card.className = "design" + (product.matches ? " match" : "");
    const img = document.createElement("img");
    Object.assign(img, { src: product.image, alt: product.title });
    const title = document.createElement("figcaption");
    title.textContent = `${product.title} (${product.status})`;
    const tags = document.createElement("div");
    tags.className = "tags";
    tags.textContent = "tagged " + Object.entries(product.tags)
      .map(([k, v]) => `${k}: ${v}`).join(", ");
    const text = document.createElement("p");
    text.textContent = product.description;
    card.append(img, title, tags, text);
    return card;
  }));
}

for (const id of ["seed", "psi"]) {
  $(id).addEventListener("change", () => { latent = null; render(); renderMix(); });
}
for (const id of ["mix-seed", "mix-styles"]) $(id).addEventListener("change", renderMix);
$("upload").addEventListener("change", upload);
$("similar").addEventListener("click", similar);
$("save").addEventListener("click", save);
$("design").addEventListener("submit", design);
loadSliders().then(() => { render(); renderMix(); });
