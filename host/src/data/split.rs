//! The seeded train/validation split, stratified by class for classification.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Row indices of the training and validation parts. `labels` (class codes)
/// makes the split stratified: each class is split in the same proportion, and
/// a class with at least two rows keeps at least one on each side.
pub fn split(rows: usize, labels: Option<&[u32]>, validation_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let fraction = validation_fraction.clamp(0.0, 0.9);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let groups: Vec<Vec<usize>> = match labels {
        Some(labels) => {
            let classes = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
            let mut groups = vec![Vec::new(); classes];
            for (row, &label) in labels.iter().enumerate() {
                groups[label as usize].push(row);
            }
            groups
        }
        None => vec![(0..rows).collect()],
    };
    let (mut train, mut validation) = (Vec::with_capacity(rows), Vec::new());
    for mut group in groups {
        group.shuffle(&mut rng);
        let mut take = (group.len() as f64 * fraction).round() as usize;
        if fraction > 0.0 && group.len() >= 2 {
            take = take.clamp(1, group.len() - 1);
        }
        validation.extend_from_slice(&group[..take]);
        train.extend_from_slice(&group[take..]);
    }
    // Keep the original row order inside each part, so the result does not
    // depend on how classes happened to be grouped.
    train.sort_unstable();
    validation.sort_unstable();
    (train, validation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_split_keeps_class_proportions_and_is_seeded() {
        let labels: Vec<u32> = (0..100).map(|i| if i < 80 { 0 } else { 1 }).collect();
        let (train, valid) = split(100, Some(&labels), 0.25, 7);
        assert_eq!((train.len(), valid.len()), (75, 25));
        assert_eq!(valid.iter().filter(|&&r| labels[r] == 1).count(), 5);
        assert_eq!(split(100, Some(&labels), 0.25, 7), (train.clone(), valid.clone()));
        assert_ne!(split(100, Some(&labels), 0.25, 8).1, valid);
        let mut all: Vec<usize> = train.into_iter().chain(valid).collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn tiny_classes_stay_on_both_sides() {
        let labels = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        let (train, valid) = split(10, Some(&labels), 0.2, 1);
        assert!(train.iter().any(|&r| labels[r] == 1));
        assert!(valid.iter().any(|&r| labels[r] == 1));
    }

    #[test]
    fn zero_fraction_keeps_everything_for_training() {
        let (train, valid) = split(10, None, 0.0, 1);
        assert_eq!(train.len(), 10);
        assert!(valid.is_empty());
    }
}
