import CAtelier

/// An Epilogue as the CPU path's C loops take it.
struct CPUEpilogue: @unchecked Sendable {
    let bias: UnsafeMutablePointer<Float>?
    let activation: Int32
    let parameter: Float
    /// The backward form's activation output, laid out like the op's output.
    let activated: UnsafeMutablePointer<Float>?

    static let none = CPUEpilogue(nil)

    init(_ e: Epilogue?) {
        bias = e?.bias?.host
        activation = e?.activation.cCode ?? Int32(ATELIER_ACT_IDENTITY)
        parameter = e?.activation.parameter ?? 0
        activated = e?.activated?.host
    }

    /// The bias from channel `offset` on, for the C loops.
    func bias(from offset: Int) -> UnsafePointer<Float>? { bias.map { UnsafePointer($0 + offset) } }

    var isEmpty: Bool { bias == nil && activation == Int32(ATELIER_ACT_IDENTITY) }

    /// Over a (rows, channels, inner) region of y that starts `elementOffset`
    /// floats into the op's output, whose channel 0 is bias[biasOffset].
    func apply(rows: Int, channels: Int, inner: Int, rowStride: Int, _ y: UnsafeMutablePointer<Float>,
               biasOffset: Int, elementOffset: Int) {
        guard !isEmpty else { return }
        atelier_epilogue(rows, channels, inner, rowStride, y, bias(from: biasOffset), activation,
                         parameter, activated.map { UnsafePointer($0 + elementOffset) })
    }
}
