// The dashboard's behaviour: the currency selector and the brushed months drive the charts
// (Vega parameters) and the headline cards, which this script works out itself, exactly:
// amounts are added as BigInt cents from the exact decimal strings in the page's data.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const spec = JSON.parse(document.getElementById("report-spec").textContent);
  const select = document.getElementById("currency");
  const state = { currency: select.value, range: null };

  function cents(text) {
    const [units, fraction = ""] = text.split(".");
    const negative = units.startsWith("-");
    const whole = BigInt(units.replace("-", "") + (fraction + "00").slice(0, 2));
    return negative ? -whole : whole;
  }

  function money(value, currency) {
    const negative = value < 0n;
    const whole = negative ? -value : value;
    const units = (whole / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    const fraction = (whole % 100n).toString().padStart(2, "0");
    return `${currency} ${negative ? "-" : ""}${units}.${fraction}`;
  }

  function count(value) {
    return value.toLocaleString("en-GB");
  }

  // As PostgreSQL's round(numeric, 2): half away from zero.
  function average(total, orders) {
    if (orders === 0) return 0n;
    const n = BigInt(orders);
    const half = total < 0n ? -n : n;
    return (2n * total + half) / (2n * n);
  }

  // Shrink each card's figure until it fits its card on one line.
  function fitCards() {
    document.body.classList.add("fitted");
    for (const el of document.querySelectorAll(".card .big")) {
      el.style.fontSize = "";
      let size = parseFloat(getComputedStyle(el).fontSize);
      while (el.scrollWidth > el.clientWidth && size > 10) {
        size -= 1;
        el.style.fontSize = `${size}px`;
      }
    }
  }

  function inRange(row) {
    return !state.range || (row.month >= state.range[0] && row.month <= state.range[1]);
  }

  function update() {
    const rows = data.monthly.filter((r) => r.currency_code === state.currency && inRange(r));
    let total = 0n, orders = 0, units = 0;
    for (const r of rows) {
      total += cents(r.value);
      orders += r.orders;
      units += r.units;
    }
    const cur = state.currency;
    document.getElementById("card-value").textContent = money(total, cur);
    document.getElementById("card-orders").textContent = count(orders);
    document.getElementById("card-units").textContent = count(units);
    document.getElementById("card-average").textContent = money(average(total, orders), cur);
    const labels = rows.map((r) => r.month_label + (r.partial ? ` (partial: ${r.partial})` : ""));
    const which = state.range ? "Brushed months" : "All months";
    document.getElementById("months").textContent = labels.length
      ? `${which}: ${labels[0]}${labels.length > 1 ? " to " + labels[labels.length - 1] : ""}` +
        ` (${labels.length} month${labels.length > 1 ? "s" : ""}).`
      : `${which}: no ${cur} sales.`;
    for (const el of document.querySelectorAll("[data-currency]")) {
      el.hidden = el.dataset.currency !== cur;
    }
    fitCards();
    document.body.dataset.ready = "true";
  }

  const options = {
    renderer: "svg",
    actions: { export: true, source: false, compiled: false, editor: false },
  };
  window.vegaEmbed("#dashboard", spec, options).then(({ view }) => {
    window.dashboard = { view, state, fitCards };
    window.addEventListener("resize", fitCards);
    view.addSignalListener("brush", (_name, value) => {
      const months = value && value.month;
      state.range = months ? [Number(months[0]), Number(months[1])] : null;
      update();
    });
    select.addEventListener("change", () => {
      state.currency = select.value;
      view.signal("currency", state.currency).runAsync();
      update();
    });
    update();
  }).catch((error) => {
    document.getElementById("dashboard").textContent = `The charts could not be drawn: ${error}`;
  });
})();
