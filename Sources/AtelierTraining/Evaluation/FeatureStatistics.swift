import AtelierDevices
import CAtelier
import Foundation

/// The mean and covariance of a set of feature vectors, in double
/// precision: what the Fréchet distance compares.
public struct FeatureStatistics: Sendable {
    /// Vectors summarised.
    public let count: Int
    /// Their length.
    public let dimension: Int
    /// The mean vector.
    public let mean: [Double]
    /// The unbiased covariance (divided by count - 1), row-major d x d.
    public let covariance: [Double]

    /// The statistics of `features`, `count` vectors of `dimension` one after another (at least two).
    public init(features: [Float], dimension: Int) throws {
        guard dimension >= 1, features.count % dimension == 0, features.count / dimension >= 2 else {
            throw EvaluationError("a distribution needs at least two feature vectors of \(dimension) values")
        }
        let n = features.count / dimension
        var mean = [Double](repeating: 0, count: dimension)
        for i in 0..<n { for j in 0..<dimension { mean[j] += Double(features[i * dimension + j]) } }
        for j in 0..<dimension { mean[j] /= Double(n) }
        var centred = [Double](repeating: 0, count: features.count)
        for i in 0..<n { for j in 0..<dimension { centred[i * dimension + j] = Double(features[i * dimension + j]) - mean[j] } }
        var covariance = [Double](repeating: 0, count: dimension * dimension)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(dimension), Int32(dimension), Int32(n),
                    1 / Double(n - 1), centred, Int32(dimension), centred, Int32(dimension), 0, &covariance, Int32(dimension))
        (self.count, self.dimension, self.mean, self.covariance) = (n, dimension, mean, covariance)
    }

    /// Statistics given directly (a known Gaussian, in tests).
    public init(mean: [Double], covariance: [Double], count: Int) {
        (self.count, self.dimension, self.mean, self.covariance) = (count, mean.count, mean, covariance)
    }

    /// The Fréchet distance between the Gaussians of `self` and `other`
    /// (the formula behind FID, here in this network's feature space):
    /// |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^1/2). The root's trace is
    /// the sum of the roots of the eigenvalues of S1^1/2 S2 S1^1/2, which is
    /// symmetric, so one symmetric eigensolver does it without complex roots.
    public func frechetDistance(to other: FeatureStatistics) throws -> Double {
        guard dimension == other.dimension else { throw EvaluationError("feature vectors of \(dimension) and \(other.dimension) values cannot be compared") }
        let d = dimension
        var distance = zip(mean, other.mean).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        for i in 0..<d { distance += covariance[i * d + i] + other.covariance[i * d + i] }
        let (values, vectors) = try Self.symmetricEigen(covariance, d)
        // S1^1/2 = V diag(sqrt(max(lambda, 0))) V^T.
        var scaled = vectors
        for i in 0..<d { for j in 0..<d { scaled[i * d + j] *= max(values[j], 0).squareRoot() } }
        var root = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(d), Int32(d), Int32(d), 1, scaled, Int32(d), vectors, Int32(d), 0, &root, Int32(d))
        var product = [Double](repeating: 0, count: d * d), middle = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1, root, Int32(d), other.covariance, Int32(d), 0, &product, Int32(d))
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1, product, Int32(d), root, Int32(d), 0, &middle, Int32(d))
        // Symmetrise: rounding leaves it a hair off.
        for i in 0..<d { for j in 0..<i { let m = (middle[i * d + j] + middle[j * d + i]) / 2; middle[i * d + j] = m; middle[j * d + i] = m } }
        let (inner, _) = try Self.symmetricEigen(middle, d, vectors: false)
        distance -= 2 * inner.reduce(0) { $0 + max($1, 0).squareRoot() }
        return max(distance, 0)
    }

    /// Eigenvalues (ascending) and, as columns of a row-major matrix, eigenvectors of a symmetric matrix (LAPACK's dsyevd).
    static func symmetricEigen(_ matrix: [Double], _ n: Int, vectors: Bool = true) throws -> (values: [Double], vectors: [Double]) {
        // LAPACK is column-major; a symmetric matrix is its own transpose, and the
        // eigenvectors come back as columns of the column-major result, that is rows here: transpose them.
        var a = matrix, w = [Double](repeating: 0, count: n)
        var (dim, lda, info) = (Int32(n), Int32(n), Int32(0))
        var (lwork, liwork) = (Int32(-1), Int32(-1))
        var workSize = 0.0, iworkSize = Int32(0)
        let (jobz, uplo): (CChar, CChar) = (vectors ? 86 : 78, 85)  // "V" or "N", "U"
        var j = jobz, u = uplo
        dsyevd_(&j, &u, &dim, &a, &lda, &w, &workSize, &lwork, &iworkSize, &liwork, &info)
        lwork = Int32(workSize)
        liwork = iworkSize
        var work = [Double](repeating: 0, count: Int(max(lwork, 1))), iwork = [Int32](repeating: 0, count: Int(max(liwork, 1)))
        dsyevd_(&j, &u, &dim, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        guard info == 0 else { throw EvaluationError("the eigensolver did not converge (LAPACK dsyevd info \(info)); the features hold NaN or infinite values") }
        guard vectors else { return (w, []) }
        var columns = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for k in 0..<n { columns[i * n + k] = a[k * n + i] } }
        return (w, columns)
    }
}

/// A measurement that cannot be made, and why.
public struct EvaluationError: Error, CustomStringConvertible, Sendable {
    /// The message, naming the problem and the fix.
    public let description: String
    /// An error with `description` as its message.
    public init(_ description: String) { self.description = description }
}
