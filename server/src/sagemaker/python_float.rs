//! Python's `repr` of a float, which is how SageMaker's XGBoost container writes each score
//! (`repr(float(f32_score))`): the byte-compatible CSV answers of `POST /invocations` need it.

/// Prints a float as Python's `repr` does (shortest round-trip digits, `1e-05` style
/// exponents, `.0` on whole numbers): the container writes `repr(float(f32_score))`.
pub fn python_repr(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".to_owned()
        } else if x > 0.0 {
            "inf".to_owned()
        } else {
            "-inf".to_owned()
        };
    }
    let magnitude = x.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        // Rust writes `1.5e-5`; Python writes `1.5e-05`.
        let text = format!("{x:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let text = x.to_string();
    if text.contains('.') {
        ties_to_even(text, x)
    } else {
        format!("{text}.0")
    }
}

/// Rust and Python both print the shortest digits that round-trip, but when the value lies
/// exactly halfway between two such strings Rust rounds the last digit up and Python to even
/// (`0.85953521728515625` is `…563` in Rust, `…562` in Python). Redo that one case.
fn ties_to_even(shortest: String, x: f64) -> String {
    let Some(dot) = shortest.find('.') else {
        return shortest;
    };
    let decimals = shortest.len() - dot - 1;
    let is_tie = |expansion: &str| {
        let tail = &expansion[expansion.find('.').map_or(0, |d| d + 1 + decimals)..];
        tail.starts_with('5') && tail[1..].bytes().all(|b| b == b'0')
    };
    // Cheap probe first; the exact expansion (finite for every f64) only to confirm.
    if !is_tie(&format!("{:.*}", decimals + 25, x)) || !is_tie(&format!("{x:.1100}")) {
        return shortest;
    }
    let exact = format!("{x:.1100}");
    let down = &exact[..exact.find('.').map_or(exact.len(), |d| d + 1 + decimals)];
    let last = down.bytes().last().unwrap_or(b'0');
    if (last - b'0').is_multiple_of(2) {
        return down.to_owned();
    }
    // Round the odd last digit up, carrying as needed.
    let mut digits = down.as_bytes().to_vec();
    let mut i = digits.len();
    loop {
        if i == 0 {
            digits.insert(usize::from(digits.first() == Some(&b'-')), b'1');
            break;
        }
        i -= 1;
        match digits[i] {
            b'9' => digits[i] = b'0',
            b'.' | b'-' => continue,
            d => {
                digits[i] = d + 1;
                break;
            }
        }
    }
    String::from_utf8(digits).unwrap_or(shortest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches_python_for_the_shapes_it_takes() {
        let cases = [
            (0.43861907720565796, "0.43861907720565796"),
            (0.5, "0.5"),
            (1.0, "1.0"),
            (0.0, "0.0"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            // Exactly halfway between two shortest strings: Python rounds to even.
            // (0.85953521728515625 exactly: the f32 0.8595352 widened.)
            (f64::from(0.8595352_f32), "0.8595352172851562"),
        ];
        for (value, python) in cases {
            assert_eq!(python_repr(value), python, "repr of {value:e}");
        }
    }
}
