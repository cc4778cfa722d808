//! Small charts as inline SVG, drawn on the server: no JavaScript, and no `style` attributes
//! (the pages' CSP allows none), only SVG attributes and Tailwind classes. Each chart is an
//! `<svg role="img">` with an accessible name that says what it shows; the figures themselves
//! are always in a table beside it (the caller's), so nothing is only in the picture.

use leptos::prelude::*;
use model::Direction;
use model::card::{CalibrationBin, FieldImportance};

use crate::form::Reason;

/// An SVG coordinate, shortly.
fn at(x: f64) -> String {
    format!("{x:.1}")
}

const TEXT: &str = "fill-slate-800";
const MUTED: &str = "fill-slate-600";

/// Every field's effect as a diverging bar chart: bars to the right of the axis raise the
/// risk (red), to the left lower it (green), longest = strongest. Labels are the fields'. The
/// axis sits where the largest lowering and raising effects leave it, so the bars use the
/// width there is (at the left edge when nothing lowers the risk).
#[component]
pub fn EffectsChart(
    effects: Vec<Reason>,
    /// The chart's accessible name.
    label: String,
) -> impl IntoView {
    const ROW: f64 = 22.0;
    const LABEL_END: f64 = 124.0;
    const BARS: f64 = 130.0;
    const WIDTH: f64 = 166.0;
    let most = |sign: f64| {
        effects
            .iter()
            .map(|r| (r.effect * sign).max(0.0))
            .fold(0.0, f64::max)
    };
    let (lowering, raising) = (most(-1.0), most(1.0));
    let scale = WIDTH / (lowering + raising).max(f64::MIN_POSITIVE);
    let axis = BARS + lowering * scale;
    let height = ROW * effects.len() as f64 + 4.0;
    let rows = effects
        .iter()
        .enumerate()
        .map(|(i, reason)| {
            let y = 2.0 + ROW * i as f64;
            let width = reason.effect.abs() * scale;
            let (x, class) = match reason.direction() {
                Direction::RaisesRisk => (axis, "fill-red-600"),
                Direction::LowersRisk => (axis - width, "fill-emerald-600"),
                Direction::NoEffect => (axis, "fill-slate-400"),
            };
            view! {
                <text
                    x=at(LABEL_END)
                    y=at(y + 15.0)
                    text-anchor="end"
                    font-size="12"
                    class=TEXT
                >
                    {reason.field().label}
                </text>
                <rect
                    x=at(x)
                    y=at(y + 4.0)
                    width=at(width.max(0.8))
                    height="14"
                    rx="2"
                    class=class
                    data-field=reason.field.clone()
                />
            }
        })
        .collect_view();
    view! {
        <svg
            id="effects-chart"
            role="img"
            aria-label=label
            viewBox=format!("0 0 300 {}", at(height))
            class="mt-2 h-auto w-full"
        >
            {rows}
            <line
                x1=at(axis)
                x2=at(axis)
                y1="0"
                y2=at(height)
                stroke-width="1"
                class="stroke-slate-500"
            />
        </svg>
    }
}

/// Predicted against observed churn rate by decile (a reliability diagram): points on the
/// dashed diagonal mean the probabilities can be taken at face value.
#[component]
pub fn CalibrationChart(bins: Vec<CalibrationBin>, label: String) -> impl IntoView {
    const LEFT: f64 = 44.0;
    const RIGHT: f64 = 308.0;
    const TOP: f64 = 10.0;
    const BOTTOM: f64 = 206.0;
    let x = |p: f64| LEFT + p.clamp(0.0, 1.0) * (RIGHT - LEFT);
    let y = |p: f64| BOTTOM - p.clamp(0.0, 1.0) * (BOTTOM - TOP);
    let grid = (0..=5)
        .map(|i| {
            let v = f64::from(i) / 5.0;
            view! {
                <line x1=at(LEFT) x2=at(RIGHT) y1=at(y(v)) y2=at(y(v)) stroke-width="1" class="stroke-slate-200" />
                <line x1=at(x(v)) x2=at(x(v)) y1=at(TOP) y2=at(BOTTOM) stroke-width="1" class="stroke-slate-200" />
                <text x=at(LEFT - 4.0) y=at(y(v) + 3.5) text-anchor="end" font-size="10" class=MUTED>
                    {format!("{}%", i * 20)}
                </text>
                <text x=at(x(v)) y=at(BOTTOM + 14.0) text-anchor="middle" font-size="10" class=MUTED>
                    {format!("{}%", i * 20)}
                </text>
            }
        })
        .collect_view();
    let points: Vec<(f64, f64)> = bins
        .iter()
        .map(|b| (x(b.predicted_mean), y(b.observed_rate)))
        .collect();
    let line = points
        .iter()
        .map(|(px, py)| format!("{},{}", at(*px), at(*py)))
        .collect::<Vec<_>>()
        .join(" ");
    let dots = points
        .iter()
        .map(|(px, py)| {
            view! { <circle cx=at(*px) cy=at(*py) r="4" class="fill-indigo-700" /> }
        })
        .collect_view();
    view! {
        <svg
            id="calibration-chart"
            role="img"
            aria-label=label
            viewBox="0 0 320 240"
            class="h-auto w-full max-w-md"
        >
            {grid}
            <line
                x1=at(x(0.0))
                y1=at(y(0.0))
                x2=at(x(1.0))
                y2=at(y(1.0))
                stroke-width="1.5"
                stroke-dasharray="5 4"
                class="stroke-slate-500"
            />
            <polyline points=line stroke-width="2" class="fill-none stroke-indigo-700" />
            {dots}
            <text x=at((LEFT + RIGHT) / 2.0) y="236" text-anchor="middle" font-size="11" class=TEXT>
                "Predicted churn (mean of the decile)"
            </text>
            <text
                x="0"
                y="0"
                transform=format!("translate(11 {}) rotate(-90)", at((TOP + BOTTOM) / 2.0))
                text-anchor="middle"
                font-size="11"
                class=TEXT
            >
                "Observed churn"
            </text>
        </svg>
    }
}

/// Global importance: each field's mean |SHAP value| as a horizontal bar, largest first.
#[component]
pub fn ImportanceChart(fields: Vec<FieldImportance>, label: String) -> impl IntoView {
    const ROW: f64 = 22.0;
    const LABEL_END: f64 = 120.0;
    const BAR: f64 = 126.0;
    const WIDEST: f64 = 140.0;
    let largest = fields
        .iter()
        .map(|f| f.mean_abs_shap)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let height = ROW * fields.len() as f64 + 4.0;
    let rows = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let y = 2.0 + ROW * i as f64;
            let width = f.mean_abs_shap / largest * WIDEST;
            let name = model::fields::field(&f.field).map_or(f.field.as_str(), |x| x.label);
            view! {
                <text x=at(LABEL_END) y=at(y + 14.0) text-anchor="end" font-size="11" class=TEXT>
                    {name.to_owned()}
                </text>
                <rect
                    x=at(BAR)
                    y=at(y + 4.0)
                    width=at(width.max(0.8))
                    height="13"
                    rx="2"
                    class="fill-indigo-600"
                />
                <text x=at(BAR + width + 4.0) y=at(y + 14.0) font-size="10" class=MUTED>
                    {format!("{:.2}", f.mean_abs_shap)}
                </text>
            }
        })
        .collect_view();
    view! {
        <svg
            id="importance-chart"
            role="img"
            aria-label=label
            viewBox=format!("0 0 320 {}", at(height))
            class="h-auto w-full max-w-md"
        >
            {rows}
        </svg>
    }
}

/// How many customers fall in each band of probability: one bar a band from 0% to 100%, the
/// bands from the threshold on in red ("Will Exit"), the others in indigo, a dashed line at
/// the threshold, ticks every 20%.
#[component]
pub fn HistogramChart(bins: Vec<u64>, threshold: f64, label: String) -> impl IntoView {
    const LEFT: f64 = 8.0;
    const RIGHT: f64 = 312.0;
    const TOP: f64 = 14.0;
    const BOTTOM: f64 = 150.0;
    let n = bins.len().max(1) as f64;
    let tallest = bins.iter().copied().max().unwrap_or(0).max(1) as f64;
    let x = |p: f64| LEFT + p.clamp(0.0, 1.0) * (RIGHT - LEFT);
    let step = (RIGHT - LEFT) / n;
    let bars = bins
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let height = count as f64 / tallest * (BOTTOM - TOP);
            // A band whose start reaches the threshold holds only "Will Exit" customers.
            let exits = (i as f64 / n) >= threshold - 1e-12;
            let class = if exits {
                "fill-red-600"
            } else {
                "fill-indigo-600"
            };
            view! {
                <rect
                    x=at(LEFT + step * i as f64 + 0.5)
                    y=at(BOTTOM - height)
                    width=at((step - 1.0).max(0.5))
                    height=at(height)
                    class=class
                    data-count=count
                />
            }
        })
        .collect_view();
    let ticks = (0..=5)
        .map(|i| {
            let p = f64::from(i) / 5.0;
            // The end labels inside the picture.
            let anchor = match i {
                0 => "start",
                5 => "end",
                _ => "middle",
            };
            view! {
                <line x1=at(x(p)) x2=at(x(p)) y1=at(BOTTOM) y2=at(BOTTOM + 4.0) stroke-width="1" class="stroke-slate-500" />
                <text x=at(x(p)) y=at(BOTTOM + 16.0) text-anchor=anchor font-size="10" class=MUTED>
                    {format!("{}%", i * 20)}
                </text>
            }
        })
        .collect_view();
    view! {
        <svg
            id="histogram-chart"
            role="img"
            aria-label=label
            viewBox="0 0 320 172"
            class="mt-2 h-auto w-full max-w-2xl"
        >
            {bars}
            <line x1=at(LEFT) x2=at(RIGHT) y1=at(BOTTOM) y2=at(BOTTOM) stroke-width="1" class="stroke-slate-500" />
            {ticks}
            <line
                x1=at(x(threshold))
                x2=at(x(threshold))
                y1=at(TOP - 6.0)
                y2=at(BOTTOM)
                stroke-width="1.5"
                stroke-dasharray="4 3"
                class="stroke-slate-900"
            />
            <text x=at(x(threshold) + 3.0) y=at(TOP - 2.0) font-size="10" class=TEXT>
                "threshold"
            </text>
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(field: &str, effect: f64) -> Reason {
        Reason {
            field: field.to_owned(),
            effect,
            text: String::new(),
        }
    }

    fn html(view: impl FnOnce() -> AnyView) -> String {
        Owner::new().with(|| view().to_html())
    }

    #[test]
    fn the_effects_chart_puts_raising_bars_right_of_the_axis_and_lowering_ones_left() {
        let effects = vec![
            reason("age", 1.0),
            reason("is_active_member", -0.5),
            reason("tenure", 0.0),
        ];
        let html = html(|| view! { <EffectsChart effects label="chart".to_owned() /> }.into_any());
        assert!(html.contains(r#"role="img""#) && html.contains(r#"aria-label="chart""#));
        assert!(!html.contains("style="), "CSP: no inline styles: {html}");
        // 166 units for 1.5 of log-odds: the axis at 130 + 0.5 × 166 / 1.5.
        assert!(
            html.contains(r#"<rect x="185.3" y="6.0" width="110.7""#),
            "{html}"
        );
        assert!(
            html.contains(r#"<rect x="130.0" y="28.0" width="55.3""#),
            "{html}"
        );
        assert!(html.contains(r#"<line x1="185.3" x2="185.3""#), "{html}");
        assert!(html.contains("fill-red-600") && html.contains("fill-emerald-600"));
        assert!(html.contains(">Age</text>") && html.contains(">Is an active member</text>"));
    }

    #[test]
    fn the_histogram_has_a_bar_per_band_red_from_the_threshold() {
        let mut bins = vec![0u64; 20];
        bins[1] = 300;
        bins[9] = 150;
        bins[10] = 75;
        bins[19] = 1;
        let html = html(|| {
            view! { <HistogramChart bins threshold=0.5 label="spread".to_owned() /> }.into_any()
        });
        assert_eq!(html.matches("<rect").count(), 20, "{html}");
        assert_eq!(html.matches("fill-red-600").count(), 10, "{html}");
        // The tallest bar spans the whole height (136 units); half as many, half as tall.
        assert!(
            html.contains(r#"y="14.0" width="14.2" height="136.0""#),
            "{html}"
        );
        assert!(
            html.contains(r#"height="68.0" data-count="150" class="fill-indigo-600""#),
            "{html}"
        );
        assert!(
            html.contains(r#"<line x1="160.0" x2="160.0""#),
            "the threshold: {html}"
        );
        assert!(html.contains(r#"aria-label="spread""#));
        assert!(!html.contains("style="), "CSP: no inline styles: {html}");
    }

    #[test]
    fn the_calibration_chart_has_a_point_per_decile_and_the_diagonal() {
        let bins: Vec<CalibrationBin> = model::ModelCard::bundled()
            .unwrap()
            .calibration
            .unwrap()
            .bins;
        let html =
            html(|| view! { <CalibrationChart bins label="calibration".to_owned() /> }.into_any());
        assert_eq!(html.matches("<circle").count(), 10, "{html}");
        assert!(html.contains("stroke-dasharray"), "{html}");
        assert!(!html.contains("style="), "{html}");
    }

    #[test]
    fn the_importance_chart_has_a_bar_per_field_widest_first() {
        let fields = model::ModelCard::bundled()
            .unwrap()
            .importance
            .unwrap()
            .fields;
        let html =
            html(|| view! { <ImportanceChart fields label="importance".to_owned() /> }.into_any());
        assert_eq!(html.matches("<rect").count(), 10, "{html}");
        assert!(
            html.contains(r#"width="140.0""#),
            "the largest is full width: {html}"
        );
        assert!(!html.contains("style="), "{html}");
    }
}
