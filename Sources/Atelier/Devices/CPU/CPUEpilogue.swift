import CAtelier

/// An Epilogue as the CPU path's C loops take it.
struct CPUEpilogue: @unchecked Sendable {
    let bias: UnsafeMutablePointer<Float>?
    let activation: Int32
    let parameter: Float

    static let none = CPUEpilogue(nil)

    init(_ e: Epilogue?) {
        bias = e?.bias?.host
        activation = e?.activation.cCode ?? Int32(ATELIER_ACT_IDENTITY)
        parameter = e?.activation.parameter ?? 0
    }

    var isEmpty: Bool { bias == nil && activation == Int32(ATELIER_ACT_IDENTITY) }

    /// act(y + bias[biasOffset + c]) over a (rows, channels, inner) region of y.
    func apply(rows: Int, channels: Int, inner: Int, rowStride: Int, _ y: UnsafeMutablePointer<Float>, biasOffset: Int) {
        guard !isEmpty else { return }
        atelier_epilogue(rows, channels, inner, rowStride, y, bias.map { UnsafePointer($0 + biasOffset) }, activation, parameter)
    }
}
