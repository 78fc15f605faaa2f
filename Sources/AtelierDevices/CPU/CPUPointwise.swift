import CAtelier
import Foundation

/// CPU versions of the `PointwiseOp` formulas (the OpenCL side is in
/// `PointwiseOp.signature`). Operands arrive in signature order.
enum CPUPointwise {
    typealias Pointer = UnsafeMutablePointer<Float>

    /// Runs `body` over slices of the outer (batch) axis on every core.
    @inline(__always)
    static func forEachOuterSlice(_ layout: ChannelLayout, _ body: (Range<Int>) -> Void) {
        Parallel.forEachSlice(layout.outer, minimumSlice: max(1, (1 << 15) / max(1, layout.channels * layout.inner)), body)
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
            forEachOuterSlice(layout) { r in
                atelier_channel_affine(layout.channels, layout.inner, o[0], nil, nil, o[1], o[2], r.lowerBound, r.upperBound)
            }
        case .broadcastChannels:
            let inner = layout.inner
            Parallel.forEachSlice(layout.outer * layout.channels, minimumSlice: max(1, (1 << 15) / inner)) { r in
                for plane in r { (o[1] + plane * inner).update(repeating: o[0][plane % layout.channels], count: inner) }
            }
        case .biasActivation(let act):
            forEachOuterSlice(layout) { r in
                let start = r.lowerBound * layout.channels * layout.inner
                if o[0] != o[2] { (o[2] + start).update(from: o[0] + start, count: r.count * layout.channels * layout.inner) }
                atelier_epilogue(r.count, layout.channels, layout.inner, layout.channels * layout.inner, o[2] + start,
                                 o[1], act.cCode, act.parameter, nil)
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
        case .hingeGradient(let s):
            Parallel.forEachSlice(n) { r in for i in r { o[2][i] = o[0][i] * o[1][i] < 1 ? -s * o[1][i] : 0 } }
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
        case .batchNormApplyActivation(let act):
            run(.batchNormApply, layout: layout, operands)
            Parallel.forEachSlice(n) { r in act.forward(o[5], o[5], r) }
        case .batchNormApply:
            // y = gamma*invstd * (x - mean) + beta
            var scale = (0..<layout.channels).map { o[3][$0] * o[2][$0] }
            scale.withUnsafeMutableBufferPointer { sc in
                nonisolated(unsafe) let sc = sc.baseAddress
                forEachOuterSlice(layout) { r in
                    atelier_channel_affine(layout.channels, layout.inner, o[0], o[1], sc, o[4], o[5], r.lowerBound, r.upperBound)
                }
            }
        case .batchNormInference(let eps):
            var scale = (0..<layout.channels).map { o[3][$0] / (o[2][$0] + eps).squareRoot() }
            scale.withUnsafeMutableBufferPointer { sc in
                nonisolated(unsafe) let sc = sc.baseAddress
                forEachOuterSlice(layout) { r in
                    atelier_channel_affine(layout.channels, layout.inner, o[0], o[1], sc, o[4], o[5], r.lowerBound, r.upperBound)
                }
            }
        case .batchNormGradient(let invm):
            forEachOuterSlice(layout) { r in
                atelier_batch_norm_grad(layout.channels, layout.inner, o[0], o[1], o[2], o[3], o[4], o[5], o[6], invm, o[7],
                                        r.lowerBound, r.upperBound)
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
