// Home: each visit (and each "Next product") shows a new product that doesn't exist.
const $ = (id) => document.getElementById(id);

async function showProduct() {
  const seed = Math.floor(Math.random() * 1e6);
  $("status").textContent = "composing…";
  $("next").disabled = true;
  try {
    const response = await fetch(`/api/product?seed=${seed}`);
    if (!response.ok) throw new Error((await response.json()).detail);
    const p = await response.json();
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
