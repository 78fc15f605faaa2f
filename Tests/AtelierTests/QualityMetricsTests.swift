import Foundation
import Testing
@testable import AtelierModels
@testable import AtelierTraining

/// The measures of `atelier eval` against values computed independently:
/// closed forms for Gaussians, and plain loops for the kernel distance.
struct QualityMetricsTests {
    /// A random rotation (Gram-Schmidt on random vectors), row-major n x n.
    static func rotation(_ n: Int, seed: UInt64) -> [Double] {
        var rng = RandomGenerator(seed: seed)
        var q = rng.normal(n * n).map(Double.init)
        for i in 0..<n {
            for j in 0..<i {
                let dot = (0..<n).reduce(0.0) { $0 + q[i * n + $1] * q[j * n + $1] }
                for k in 0..<n { q[i * n + k] -= dot * q[j * n + k] }
            }
            let norm = (0..<n).reduce(0.0) { $0 + q[i * n + $1] * q[i * n + $1] }.squareRoot()
            for k in 0..<n { q[i * n + k] /= norm }
        }
        return q
    }

    /// Q^T diag(values) Q.
    static func rotated(_ values: [Double], _ q: [Double]) -> [Double] {
        let n = values.count
        var out = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { out[i * n + j] += q[k * n + i] * values[k] * q[k * n + j] } } }
        return out
    }

    @Test("The Fréchet distance is 0 between identical sets and matches closed forms for Gaussians")
    func frechet() throws {
        // Identical feature sets.
        let features = randomValues(300 * 12, seed: 3)
        let a = try FeatureStatistics(features: features, dimension: 12)
        #expect(try a.frechetDistance(to: a) < 1e-9)
        // A shifted Gaussian of the same covariance: the squared shift.
        let n = 16, q = Self.rotation(n, seed: 7)
        let spectrum = (0..<n).map { 0.2 + Double($0) * 0.3 }
        let shift = (0..<n).map { Double($0 % 3) - 1 }
        let base = FeatureStatistics(mean: [Double](repeating: 0, count: n), covariance: Self.rotated(spectrum, q), count: 1000)
        let shifted = FeatureStatistics(mean: shift, covariance: Self.rotated(spectrum, q), count: 1000)
        let squaredShift = shift.reduce(0) { $0 + $1 * $1 }
        #expect(abs(try base.frechetDistance(to: shifted) - squaredShift) < 1e-9 * max(1, squaredShift))
        // Covariances sharing their eigenvectors: the sum of (sqrt a - sqrt b)^2 over the eigenvalues.
        let other = (0..<n).map { 1.5 - Double($0) * 0.05 }
        let wider = FeatureStatistics(mean: [Double](repeating: 0, count: n), covariance: Self.rotated(other, q), count: 1000)
        let expected = zip(spectrum, other).reduce(0) { $0 + pow($1.0.squareRoot() - $1.1.squareRoot(), 2) }
        #expect(abs(try base.frechetDistance(to: wider) - expected) < 1e-8)
        // The sample statistics: mean and unbiased covariance.
        let pair = try FeatureStatistics(features: [1, 2, 3, 6], dimension: 2)
        #expect(pair.mean == [2, 4] && pair.covariance == [2, 4, 4, 8])
        #expect(throws: EvaluationError.self) { try FeatureStatistics(features: [1, 2], dimension: 2) }
    }

    @Test("KID is the unbiased squared MMD under the cubic kernel, as plain loops compute it")
    func kernelDistance() throws {
        let d = 5, m = 40
        let x = randomValues(m * d, seed: 11), y = randomValues(m * d, seed: 12).map { $0 * 1.5 + 0.3 }
        func k(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
            pow(zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / Double(d) + 1, 3)
        }
        func row(_ v: [Float], _ i: Int) -> ArraySlice<Float> { v[i * d..<(i + 1) * d] }
        var xx = 0.0, yy = 0.0, xy = 0.0
        for i in 0..<m {
            for j in 0..<m {
                if i != j { xx += k(row(x, i), row(x, j)); yy += k(row(y, i), row(y, j)) }
                xy += k(row(x, i), row(y, j))
            }
        }
        let expected = xx / Double(m * (m - 1)) + yy / Double(m * (m - 1)) - 2 * xy / Double(m * m)
        // One subset of every vector: the estimate itself, whatever the order drawn.
        let one = try QualityMetrics.kernelDistance(x, y, dimension: d, subsets: 1, subsetSize: m)
        #expect(abs(one.mean - expected) < 1e-5 * max(1, abs(expected)) && one.standardError == 0)
        // The same distribution on both sides: near 0, within a few standard errors.
        let same = try QualityMetrics.kernelDistance(randomValues(400 * d, seed: 1), randomValues(400 * d, seed: 2), dimension: d,
                                                    subsets: 20, subsetSize: 100)
        #expect(abs(same.mean) < 4 * same.standardError + 1e-3, "\(same)")
        let apart = try QualityMetrics.kernelDistance(x, y, dimension: d, subsets: 20, subsetSize: 20)
        #expect(apart.mean > 10 * apart.standardError, "\(apart)")
    }

    @Test("Coverage, confidence and agreement of predicted classes")
    func classes() {
        #expect(QualityMetrics.classCoverage([3, 3, 3, 3], classes: 10) == 0)
        #expect(abs(QualityMetrics.classCoverage(Array(0..<10) + Array(0..<10), classes: 10) - log(10)) < 1e-12)
        let probabilities: [Float] = [0.9, 0.1, 0, 0.2, 0.5, 0.3]
        #expect(QualityMetrics.predictedClasses(probabilities, classes: 3) == [0, 1])
        #expect(abs(QualityMetrics.confidence(probabilities, classes: 3) - 0.7) < 1e-6)
        let agreement = QualityMetrics.classAgreement(predicted: [0, 0, 1, 2], requested: [0, 1, 1, 1], classes: 3)
        #expect(agreement[0] == 1 && abs(agreement[1]! - 1.0 / 3) < 1e-12 && agreement[2] == nil)
        #expect(FeatureExtractor.conversion(width: 28, height: 28, channels: 1) == nil)
        #expect(FeatureExtractor.conversion(width: 64, height: 64, channels: 3) == "RGB to gray (ITU-R 601 luma), 64x64 to 28x28 by area averaging")
        let softmax = FeatureExtractor.softmax([0, log(3), 1000, 1000], classes: 2)
        #expect(abs(softmax[0] - 0.25) < 1e-6 && abs(softmax[1] - 0.75) < 1e-6 && softmax[2] == 0.5)
    }

    @Test("SSIM, L1 and silhouettes against closed forms")
    func translationMeasures() {
        let gray = { (v: UInt8) in PixelImage(width: 16, height: 12, channels: 1, pixels: [UInt8](repeating: v, count: 192)) }
        // Flat pictures: only the means differ, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1).
        let (a, b) = (Double(128) / 255, Double(153) / 255)
        let expected = (2 * a * b + 1e-4) / (a * a + b * b + 1e-4)
        #expect(abs(TranslationQuality.ssim(gray(128), gray(153)) - expected) < 1e-9)
        var rng = RandomGenerator(seed: 2)
        let noisy = PixelImage(width: 16, height: 12, channels: 3, pixels: rng.uniform(576, in: 0...255).map { UInt8($0) })
        #expect(abs(TranslationQuality.ssim(noisy, noisy) - 1) < 1e-12 && TranslationQuality.l1(noisy, noisy) == 0)
        #expect(abs(TranslationQuality.l1(gray(0), gray(51)) - 0.2) < 1e-12)
        // A dark square on white against the same square shifted by half: IoU 1/3.
        func square(_ x: Int) -> PixelImage {
            PixelImage(width: 8, height: 4, channels: 1, pixels: (0..<32).map { ($0 % 8 >= x && $0 % 8 < x + 4) ? 20 : 255 })
        }
        #expect(abs(TranslationQuality.iou(TranslationQuality.silhouette(square(0)), TranslationQuality.silhouette(square(2))) - 1.0 / 3) < 1e-12)
        #expect(TranslationQuality.iou([false], [false]) == 1)
    }
}
