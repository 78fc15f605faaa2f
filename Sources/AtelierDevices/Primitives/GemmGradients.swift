/// The gradient rules of C = op(A) op(B), for the graph and the tests: given
/// dC, the gradients of A and B as stored (transposed or not), each one GEMM.
extension GemmShape {
    /// dA = dC op(B)^T, or (op(B) dC^T) when A is stored transposed.
    public func gradientA(accumulate: Bool = false) -> (shape: GemmShape, firstIsOutputGradient: Bool) {
        let beta: Float = accumulate ? 1 : 0
        if !transposeA {
            return (GemmShape(m: m, n: k, k: n, transposeA: false, transposeB: !transposeB, alpha: alpha, beta: beta), true)
        }
        return (GemmShape(m: k, n: m, k: n, transposeA: transposeB, transposeB: true, alpha: alpha, beta: beta), false)
    }

    /// dB = op(A)^T dC, or (dC^T op(A)) when B is stored transposed.
    public func gradientB(accumulate: Bool = false) -> (shape: GemmShape, firstIsOutputGradient: Bool) {
        let beta: Float = accumulate ? 1 : 0
        if !transposeB {
            return (GemmShape(m: k, n: n, k: m, transposeA: !transposeA, transposeB: false, alpha: alpha, beta: beta), false)
        }
        return (GemmShape(m: n, n: k, k: m, transposeA: true, transposeB: transposeA, alpha: alpha, beta: beta), true)
    }
}

extension Backend {
    /// dA (as stored) from dC for C = op(A) op(B).
    public func gemmGradientA(_ s: GemmShape, b: DeviceBuffer, outputGradient dc: DeviceBuffer,
                              into da: DeviceBuffer, accumulate: Bool = false) throws {
        let (shape, dcFirst) = s.gradientA(accumulate: accumulate)
        try gemm(shape, a: dcFirst ? dc : b, b: dcFirst ? b : dc, c: da)
    }

    /// dB (as stored) from dC for C = op(A) op(B).
    public func gemmGradientB(_ s: GemmShape, a: DeviceBuffer, outputGradient dc: DeviceBuffer,
                              into db: DeviceBuffer, accumulate: Bool = false) throws {
        let (shape, dcFirst) = s.gradientB(accumulate: accumulate)
        try gemm(shape, a: dcFirst ? dc : a, b: dcFirst ? a : dc, c: db)
    }
}
