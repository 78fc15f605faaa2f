import AtelierDevices
import AtelierModels
import Foundation

/// Watches a GAN run for the failures its loss curve hides, and says each
/// once, with what to try:
/// - mode collapse: the fixed-noise samples lose their variety (their mean
///   pairwise distance falls below half of that of as many real pictures,
///   or below half of the best it has been), or, where the feature network
///   is at hand, they cover few classes (under 1.2 nats of the 2.30 of ten
///   even classes);
/// - a discriminator that has won: D(G(z)) (vanilla loss) under 0.05 for 200
///   steps in a row, so that G's gradient has all but vanished.
struct CollapseWatch {
    static let varietyFloor = 0.5, coverageFloor = 1.2
    static let wonScore: Float = 0.05, wonPatience = 200
    static let advice = "try --stable (D sees the minibatch deviation, so a batch of near-copies gives G away, and its layers are spectrally normalised, so it cannot win outright; see docs/quality.md)"
    static let adviceWhenStable = "--stable is on already: train longer, or try --gan-mode lsgan, --instance-noise 0.1 or a lower --lr (e.g. 1e-4)"
    /// What the warnings suggest (the run's remedies decide).
    var advice = CollapseWatch.advice

    /// The variety of real pictures, the yardstick.
    let realVariety: Double
    private(set) var bestVariety = 0.0
    private var lowScoreStreak = 0
    private var saidCollapse = false, saidWon = false

    init(realPictures: [Float], pictureSize: Int) {
        realVariety = max(Self.variety(realPictures, pictureSize: pictureSize), 1e-12)
    }

    /// The mean Euclidean distance between two different pictures of a set.
    static func variety(_ pictures: [Float], pictureSize d: Int) -> Double {
        let n = pictures.count / d
        guard n >= 2 else { return 0 }
        var sum = 0.0
        for i in 0..<n {
            for j in (i + 1)..<n {
                var squared: Float = 0
                for k in 0..<d { let diff = pictures[i * d + k] - pictures[j * d + k]; squared += diff * diff }
                sum += Double(squared.squareRoot())
            }
        }
        return sum / Double(n * (n - 1) / 2)
    }

    /// After an epoch: the samples' variety relative to real pictures (and
    /// their class coverage, when measured); a warning the first time they
    /// look collapsed.
    mutating func observe(samples: [Float], pictureSize: Int, coverage: Double?, epoch: Int) -> (variety: Double, warning: String?) {
        let variety = Self.variety(samples, pictureSize: pictureSize) / realVariety
        defer { bestVariety = max(bestVariety, variety) }
        guard !saidCollapse else { return (variety, nil) }
        var signs: [String] = []
        if variety < Self.varietyFloor {
            signs.append(String(format: "the fixed-noise samples vary %.2f as much as real pictures", variety))
        } else if variety < Self.varietyFloor * bestVariety {
            signs.append(String(format: "the samples' variety fell from %.2f to %.2f of real pictures'", bestVariety, variety))
        }
        if let coverage, coverage < Self.coverageFloor {
            signs.append(String(format: "they fall into few classes (%.2f nats of 2.30)", coverage))
        }
        guard !signs.isEmpty else { return (variety, nil) }
        saidCollapse = true
        return (variety, "warning: mode collapse at epoch \(epoch): " + signs.joined(separator: ", and ")
                + "; G draws a few garments whatever the noise. \(advice)")
    }

    /// After a step: a warning the first time D has won for long.
    mutating func observe(_ stats: StepStatistics, mode: GANLoss) -> String? {
        guard mode == .vanilla, !saidWon, let score = stats["D(G(z))"] else { return nil }
        lowScoreStreak = score < Self.wonScore ? lowScoreStreak + 1 : 0
        guard lowScoreStreak >= Self.wonPatience else { return nil }
        saidWon = true
        return String(format: "warning: the discriminator has won: D(G(z)) has stayed under %.2f for %d steps (now %.4f), so G learns almost nothing. ",
                      Self.wonScore, Self.wonPatience, score) + advice
    }
}
