/// C[m,n] = alpha * op(A) * op(B) + beta * C, row-major and contiguous.
/// op(A) is A[m,k], or the transpose of A[k,m] when `transposeA`; likewise B.
public struct GemmShape: Sendable, Hashable, CustomStringConvertible {
    public var m: Int
    public var n: Int
    public var k: Int
    public var transposeA: Bool
    public var transposeB: Bool
    public var alpha: Float
    public var beta: Float

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

    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    public var aCount: Int { m * k }
    public var bCount: Int { k * n }
    public var cCount: Int { m * n }

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
