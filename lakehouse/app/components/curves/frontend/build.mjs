// Bundles src/index.js (with uPlot and the CSS) into ../static/curves.js and ../static/curves.css:
// the assets the Python package ships and Streamlit serves. Nothing is fetched when the app runs.
import { build } from "esbuild";

await build({
  entryPoints: { curves: "src/index.js" },
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  outdir: "../static",
  logLevel: "warning",
});
