// Home: each visit (and each "Next product") shows a new product that doesn't exist.
const $ = (id) => document.getElementById(id);

async function composeAccepted(tries = 5) {
  // A few seeds until one passes every check (most do); the last one is shown regardless.
  let seed, p;
  for (let i = 0; i < tries; i++) {
    seed = Math.floor(Math.random() * 1e6);
    const response = await fetch(`/api/product?seed=${seed}`);
    if (!response.ok) throw new Error((await response.json()).detail);
    p = await response.json();
    if (p.status === "accepted") break;
  }
  return [seed, p];
}

async function showProduct() {
  $("status").textContent = "composing…";
  $("next").disabled = true;
  try {
    const [seed, p] = await composeAccepted();
    $("photo").src = p.image;
    $("nearest").src = p.nearest_image;
    $("nearest-caption").textContent =
      `nearest real: ${p.nearest_sku} (distance ${p.checks.image_novel.distance.toFixed(2)})`;
    $("title").textContent = p.title;
    $("tags").textContent = [p.category, ...Object.values(p.attributes)].join(" · ");
    $("description").textContent = p.description;
    $("product").dataset.seed = String(seed);
    $("status").textContent = `seed ${seed} · ${p.status}`;
  } catch (error) {
    $("status").textContent = `could not compose: ${error.message}`;
  } finally {
    $("next").disabled = false;
  }
}

$("next").addEventListener("click", showProduct);
showProduct();
