/// C[m,n] = alpha * op(A) * op(B) + beta * C, row-major and contiguous.
/// op(A) is A[m,k], or the transpose of A[k,m] when `transposeA`; likewise B.
public struct GemmShape: Sendable, Hashable, CustomStringConvertible {
    /// Rows of C (and of op(A)).
    public var m: Int
    /// Columns of C (and of op(B)).
    public var n: Int
    /// The shared dimension.
    public var k: Int
    /// Whether A is stored [k, m] and used transposed.
    public var transposeA: Bool
    /// Whether B is stored [n, k] and used transposed.
    public var transposeB: Bool
    /// The scale of the product.
    public var alpha: Float
    /// The scale of C's old value added to it (0: overwrite).
    public var beta: Float

    /// C = alpha op(A) op(B) + beta C, all row-major.
    public init(m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
                alpha: Float = 1, beta: Float = 0) {
        self.m = m
        self.n = n
        self.k = k
        self.transposeA = transposeA
        self.transposeB = transposeB
        self.alpha = alpha
        self.beta = beta
    }

    /// Multiply-adds times two.
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    /// Floats of A.
    public var aCount: Int { m * k }
    /// Floats of B.
    public var bCount: Int { k * n }
    /// Floats of C.
    public var cCount: Int { m * n }

    /// `m x n x k` with the transposes, for reports.
    public var description: String {
        "\(m)x\(n)x\(k)\(transposeA ? " A^T" : "")\(transposeB ? " B^T" : "")"
    }

    func validate(a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer) throws {
        guard m > 0, n > 0, k > 0 else { throw ShapeError("GEMM \(self): every dimension must be positive") }
        try ShapeError.expect(a, count: aCount, "GEMM \(self) operand A")
        try ShapeError.expect(b, count: bCount, "GEMM \(self) operand B")
        try ShapeError.expect(c, count: cCount, "GEMM \(self) result C")
    }
}

/// A tensor shape that does not fit the op it was given to.
