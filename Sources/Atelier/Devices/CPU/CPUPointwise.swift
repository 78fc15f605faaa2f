import CAtelier
import Foundation

/// CPU versions of the `PointwiseOp` formulas (the OpenCL side is in
/// `PointwiseOp.signature`). Operands arrive in signature order.
enum CPUPointwise {
    typealias Pointer = UnsafeMutablePointer<Float>

    /// Calls `body(c, elements)` for every contiguous run of one channel in a
    /// (outer, channels, inner) layout, so the channel is known per run
    /// rather than divided out per element.
    @inline(__always)
    static func forEachChannelRun(_ layout: ChannelLayout, _ body: (Int, Range<Int>) -> Void) {
        let inner = layout.inner, channels = layout.channels
        Parallel.forEachSlice(layout.outer * channels, minimumSlice: max(1, (1 << 15) / inner)) { blocks in
            for block in blocks {
                body(block % channels, block * inner ..< (block + 1) * inner)
            }
        }
    }

    static func run(_ op: PointwiseOp, layout: ChannelLayout, _ operands: [Pointer]) {
        nonisolated(unsafe) let o = operands
        let n = layout.count
        switch op {
        case .activation(let act):
            Parallel.forEachSlice(n) { r in act.forward(o[0], o[1], r) }
        case .activationGradient(let act):
            Parallel.forEachSlice(n) { r in act.gradient(y: o[0], dy: o[1], dx: o[2], r) }
        case .add:
            Parallel.forEachSlice(n) { r in for i in r { o[2][i] = o[0][i] + o[1][i] } }
        case .scale(let factor):
            Parallel.forEachSlice(n) { r in for i in r { o[1][i] = factor * o[0][i] } }
        case .biasAdd:
            forEachChannelRun(layout) { c, r in
                let bias = o[1][c]
                for i in r { o[2][i] = o[0][i] + bias }
            }
        case .bceWithLogitsGradient(let s):
            Parallel.forEachSlice(n) { r in
                for i in r {
                    let x = o[0][i]
                    let e = exp(-abs(x))
                    o[2][i] = s * ((x >= 0 ? 1 : e) / (1 + e) - o[1][i])
                }
            }
        case .mseGradient(let s):
            Parallel.forEachSlice(n) { r in for i in r { o[2][i] = 2 * s * (o[0][i] - o[1][i]) } }
        case .l1Gradient(let s):
            Parallel.forEachSlice(n) { r in
                for i in r {
                    let d = o[0][i] - o[1][i]
                    o[2][i] = d > 0 ? s : (d < 0 ? -s : 0)
                }
            }
        case .batchNormStatistics(let momentum, let eps, let unbias):
            for i in 0..<n {
                let mean = o[0][i], variance = o[1][i]
                o[4][i] = 1 / (variance + eps).squareRoot()
                o[2][i] = (1 - momentum) * o[2][i] + momentum * mean
                o[3][i] = (1 - momentum) * o[3][i] + momentum * variance * unbias
            }
        case .batchNormApply:
            forEachChannelRun(layout) { c, r in
                let (mean, scale, beta) = (o[1][c], o[3][c] * o[2][c], o[4][c])
                for i in r { o[5][i] = scale * (o[0][i] - mean) + beta }
            }
        case .batchNormInference(let eps):
            forEachChannelRun(layout) { c, r in
                let (mean, scale, beta) = (o[1][c], o[3][c] / (o[2][c] + eps).squareRoot(), o[4][c])
                for i in r { o[5][i] = scale * (o[0][i] - mean) + beta }
            }
        case .batchNormGradient(let invm):
            forEachChannelRun(layout) { c, r in
                let (mean, invstd, gamma) = (o[2][c], o[3][c], o[4][c])
                let (dbeta, dgamma) = (invm * o[5][c], invm * o[6][c])
                for i in r {
                    let xhat = (o[0][i] - mean) * invstd
                    o[7][i] = gamma * invstd * (o[1][i] - dbeta - xhat * dgamma)
                }
            }
        case .adam(let step):
            let k = step.kernelScalars
            let (lr, b1, b2, eps, c1, c2) = (k[0], k[1], k[2], k[3], k[4], k[5])
            nonisolated(unsafe) let (g, p, m, v) = (o[0], o[1], o[2], o[3])
            Parallel.forEachSlice(n) { r in
                atelier_adam(r.count, g + r.lowerBound, p + r.lowerBound, m + r.lowerBound, v + r.lowerBound,
                             lr, b1, b2, eps, c1, c2)
            }
        }
    }
}
