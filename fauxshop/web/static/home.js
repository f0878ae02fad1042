// Home: each visit (and each "Next product") shows a new product that doesn't exist.
const $ = (id) => document.getElementById(id);

async function composeAccepted(tries = 5) {
  // The server hands out a product its pool composed and checked ahead; with the pool empty
  // it composes one now, which may fail a check: then a few more (the last is shown anyway).
  let p;
  for (let i = 0; i < tries; i++) {
    const response = await fetch("/api/product");
    if (!response.ok) throw new Error((await response.json()).detail);
    p = await response.json();
    if (p.status === "accepted") break;
  }
  return [p.seed, p];
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
