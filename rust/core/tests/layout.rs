use leanconv_core::conv::layout::{transform, Transform};
use leanconv_core::CoreError;
use proptest::prelude::*;

proptest! {
    #[test]
    fn chw_hwc_round_trip(c in 0usize..20, h in 0usize..12, w in 0usize..12) {
        let n = c * h * w;
        let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let mut y = vec![0.0; n];
        let mut z = vec![0.0; n];
        transform(Transform::ChwToHwc, &x, &mut y, c, h, w).unwrap();
        for ci in 0..c {
            for p in 0..h * w {
                prop_assert_eq!(y[p * c + ci], x[ci * h * w + p]);
            }
        }
        transform(Transform::HwcToChw, &y, &mut z, c, h, w).unwrap();
        prop_assert_eq!(x, z);
    }
}

#[test]
fn wrong_lengths_are_shape_errors() {
    let x = vec![0.0f32; 5];
    let mut y = vec![0.0f32; 6];
    let err = transform(Transform::ChwToHwc, &x, &mut y, 1, 2, 3).unwrap_err();
    assert!(matches!(err, CoreError::Shape(_)), "{err:?}");
    let err = transform(Transform::ChwToHwc, &x, &mut y, usize::MAX, 2, 3).unwrap_err();
    assert!(matches!(err, CoreError::Shape(_)), "{err:?}");
}
