import AtelierDevices
import AtelierModels
import CAtelier
import Foundation

/// The figures `atelier eval` reports besides the Fréchet distance.
public enum QualityMetrics {
    /// KID, the kernel distance: the unbiased squared MMD between two
    /// feature sets under the cubic polynomial kernel (x . y / d + 1)^3,
    /// averaged over `subsets` random subsets of `subsetSize` vectors of
    /// each (fewer when a set is smaller), with the standard error of that
    /// mean. Unlike the Fréchet distance it is unbiased in the sample size,
    /// so small sets compare fairly; 0 means the same distribution.
    public static func kernelDistance(_ x: [Float], _ y: [Float], dimension d: Int, subsets: Int = 100, subsetSize: Int = 1000,
                                      seed: UInt64 = 0) throws -> (mean: Double, standardError: Double) {
        let (nx, ny) = (x.count / d, y.count / d)
        let m = min(subsetSize, nx, ny)
        guard m >= 2, subsets >= 1 else { throw EvaluationError("the kernel distance needs at least two feature vectors on each side") }
        var random = RandomGenerator(seed: seed)
        var estimates: [Double] = []
        var gram = [Float](repeating: 0, count: m * m)
        func subset(_ set: [Float], _ n: Int) -> [Float] {
            var picked = [Float]()
            picked.reserveCapacity(m * d)
            for i in random.permutation(n).prefix(m) { picked += set[i * d..<(i + 1) * d] }
            return picked
        }
        // The mean of k over the m x m dot products, diagonal left out when `offDiagonal`.
        func meanKernel(_ a: [Float], _ b: [Float], offDiagonal: Bool) -> Double {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(m), Int32(d), 1 / Float(d), a, Int32(d), b, Int32(d),
                        0, &gram, Int32(m))
            var sum = 0.0
            for i in 0..<m {
                for j in 0..<m where !(offDiagonal && i == j) {
                    let k = Double(gram[i * m + j]) + 1
                    sum += k * k * k
                }
            }
            return sum / Double(offDiagonal ? m * (m - 1) : m * m)
        }
        for _ in 0..<subsets {
            let (a, b) = (subset(x, nx), subset(y, ny))
            estimates.append(meanKernel(a, a, offDiagonal: true) + meanKernel(b, b, offDiagonal: true) - 2 * meanKernel(a, b, offDiagonal: false))
        }
        let mean = estimates.reduce(0, +) / Double(estimates.count)
        let variance = estimates.count > 1 ? estimates.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(estimates.count - 1) : 0
        return (mean, (variance / Double(estimates.count)).squareRoot())
    }

    /// The class each picture is most likely to be, from probabilities [N, classes].
    public static func predictedClasses(_ probabilities: [Float], classes: Int) -> [Int] {
        stride(from: 0, to: probabilities.count, by: classes).map { row in
            (0..<classes).max { probabilities[row + $0] < probabilities[row + $1] }!
        }
    }

    /// How evenly the pictures spread over the classes: the entropy (nats) of
    /// the histogram of predicted classes; ln(classes) when even (2.30 for
    /// ten), 0 when every picture is one class (a collapsed generator).
    public static func classCoverage(_ predicted: [Int], classes: Int) -> Double {
        guard !predicted.isEmpty else { return 0 }
        var counts = [Int](repeating: 0, count: classes)
        for c in predicted { counts[c] += 1 }
        let entropy = -counts.filter { $0 > 0 }.reduce(0.0) { entropy, count in
            let p = Double(count) / Double(predicted.count)
            return entropy + p * Foundation.log(p)
        }
        return max(0, entropy)  // one class gives -0.0, which prints as "-0.00"
    }

    /// The mean probability of the predicted class: how clearly the pictures
    /// look like some garment (1: unmistakable, 0.1: no better than a guess).
    public static func confidence(_ probabilities: [Float], classes: Int) -> Double {
        let rows = probabilities.count / classes
        guard rows > 0 else { return 0 }
        return stride(from: 0, to: probabilities.count, by: classes).reduce(0.0) { sum, row in
            sum + Double(probabilities[row..<row + classes].max()!)
        } / Double(rows)
    }

    /// For each class asked for, the share of its pictures classified as
    /// that class (a conditional generator's obedience); nil for a class
    /// never asked for.
    public static func classAgreement(predicted: [Int], requested: [Int], classes: Int) -> [Double?] {
        var asked = [Int](repeating: 0, count: classes), agreed = [Int](repeating: 0, count: classes)
        for (p, r) in zip(predicted, requested) {
            asked[r] += 1
            if p == r { agreed[r] += 1 }
        }
        return (0..<classes).map { asked[$0] == 0 ? nil : Double(agreed[$0]) / Double(asked[$0]) }
    }
}
