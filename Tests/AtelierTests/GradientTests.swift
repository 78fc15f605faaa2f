import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// Every op's gradient on the CPU path against central finite differences of
/// its forward pass. Each check uses loss = sum(output * r) for a random r,
/// so dOutput = r.
struct GradientTests {
    let cpu = CPUBackend()

    /// Central differences at up to `samples` positions of `x`.
    func checkGradient(_ what: String, at x: [Float], analytic: [Float], h: Float = 1e-2, samples: Int = 48,
                       rtol: Double = 2e-2, skip: (Int) -> Bool = { _ in false },
                       loss: ([Float]) throws -> Double) throws {
        var rng = SplitMix64(seed: 99)
        let indices = x.count <= samples ? Array(x.indices) : (0..<samples).map { _ in Int.random(in: 0..<x.count, using: &rng) }
        let scale = max(analytic.map { Double(abs($0)) }.max() ?? 0, 1e-3)
        for i in indices where !skip(i) {
            var plus = x, minus = x
            plus[i] += h
            minus[i] -= h
            let numeric = (try loss(plus) - loss(minus)) / Double(2 * h)
            let diff = abs(numeric - Double(analytic[i]))
            #expect(diff <= rtol * max(abs(numeric), scale * 0.1),
                    "\(what): d/dx[\(i)] numeric \(numeric) vs analytic \(analytic[i]) (difference \(diff))")
        }
    }

    func dot(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    @Test("GEMM gradients, every transpose combination")
    func gemm() throws {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let s = GemmShape(m: 5, n: 4, k: 3, transposeA: ta, transposeB: tb, alpha: 0.7)
            let a = randomValues(s.aCount, seed: 1), b = randomValues(s.bCount, seed: 2), r = randomValues(s.cCount, seed: 3)
            func forward(_ a: [Float], _ b: [Float]) throws -> Double {
                let c = try cpu.buffer(count: s.cCount)
                try cpu.gemm(s, a: try cpu.upload(a), b: try cpu.upload(b), c: c)
                return dot(try cpu.read(c), r)
            }
            let da = try cpu.buffer(count: s.aCount), db = try cpu.buffer(count: s.bCount)
            try cpu.gemmGradientA(s, b: try cpu.upload(b), outputGradient: try cpu.upload(r), into: da)
            try cpu.gemmGradientB(s, a: try cpu.upload(a), outputGradient: try cpu.upload(r), into: db)
            try checkGradient("GEMM \(s) dA", at: a, analytic: try cpu.read(da)) { try forward($0, b) }
            try checkGradient("GEMM \(s) dB", at: b, analytic: try cpu.read(db)) { try forward(a, $0) }
        }
    }

    @Test("Convolution gradients", arguments: KernelParityTests.geometries)
    func convolution(g: ConvGeometry) throws {
        let x = randomValues(g.inputCount, seed: 4), w = randomValues(g.weightCount, seed: 5)
        let r = randomValues(g.outputCount, seed: 6)
        func forward(_ x: [Float], _ w: [Float]) throws -> Double {
            let y = try cpu.buffer(count: g.outputCount)
            try cpu.convolutionForward(g, input: try cpu.upload(x), weight: try cpu.upload(w), output: y)
            return dot(try cpu.read(y), r)
        }
        let dx = try cpu.buffer(count: g.inputCount), dw = try cpu.buffer(count: g.weightCount)
        try cpu.convolutionBackwardData(g, outputGradient: try cpu.upload(r), weight: try cpu.upload(w), inputGradient: dx)
        try cpu.convolutionBackwardWeights(g, input: try cpu.upload(x), outputGradient: try cpu.upload(r), weightGradient: dw)
        try checkGradient("conv \(g) dx", at: x, analytic: try cpu.read(dx)) { try forward($0, w) }
        try checkGradient("conv \(g) dw", at: w, analytic: try cpu.read(dw)) { try forward(x, $0) }
    }

    @Test("Activation gradients", arguments: [Activation.identity, .relu, .leakyRelu(slope: 0.2), .sigmoid, .tanh])
    func activation(act: Activation) throws {
        let n = 50
        let x = randomValues(n, seed: 7, in: -3...3), r = randomValues(n, seed: 8)
        func forward(_ x: [Float]) throws -> [Float] {
            let y = try cpu.buffer(count: n)
            try cpu.pointwise(.activation(act), count: n, operands: [try cpu.upload(x), y])
            return try cpu.read(y)
        }
        let dx = try cpu.buffer(count: n)
        try cpu.pointwise(.activationGradient(act), count: n,
                          operands: [try cpu.upload(try forward(x)), try cpu.upload(r), dx])
        let h: Float = 1e-3
        try checkGradient("\(act)", at: x, analytic: try cpu.read(dx), h: h, skip: { abs(x[$0]) < 2 * h }) {
            dot(try forward($0), r)
        }
    }

    @Test("Bias gradient")
    func bias() throws {
        let layout = ChannelLayout(outer: 3, channels: 4, inner: 5)
        let x = randomValues(layout.count, seed: 9), bias = randomValues(layout.channels, seed: 10)
        let r = randomValues(layout.count, seed: 11)
        let db = try cpu.buffer(count: layout.channels)
        try cpu.biasGradient(layout: layout, outputGradient: try cpu.upload(r), biasGradient: db)
        try checkGradient("bias", at: bias, analytic: try cpu.read(db)) { b in
            let y = try cpu.buffer(count: layout.count)
            try cpu.biasAdd(layout: layout, input: try cpu.upload(x), bias: try cpu.upload(b), output: y)
            return dot(try cpu.read(y), r)
        }
    }

    @Test("Loss gradients, weighted", arguments: ReduceOp.allCases)
    func loss(op: ReduceOp) throws {
        let n = 37
        let x = randomValues(n, seed: 12, in: -4...4)
        let t = op == .hinge ? randomValues(n, seed: 13).map { $0 < 0 ? -1 : 1 } : randomValues(n, seed: 13, in: 0...1)
        let dx = try cpu.buffer(count: n)
        let xb = try cpu.upload(x), tb = try cpu.upload(t)
        let weight: Float = 0.7
        try cpu.lossGradient(op, inputs: [xb, tb].prefix(op.arity).map { $0 }, gradient: dx, weight: weight)
        let h: Float = 1e-3
        // Not across a kink: |x - t| = 0 (L1) or x t = 1 (hinge).
        let kink = { (i: Int) in abs(x[i] - t[i]) < 2 * h || abs(x[i] * t[i] - 1) < 2 * h }
        try checkGradient("\(op)", at: x, analytic: try cpu.read(dx), h: h, skip: kink) { x in
            let out = try cpu.buffer(count: 1)
            try cpu.reduce(op, inputs: [try cpu.upload(x), tb].prefix(op.arity).map { $0 }, output: out)
            return Double(weight) * Double(try cpu.read(out)[0])
        }
    }

    @Test("BatchNorm gradients of x, gamma and beta, fused with an activation",
          arguments: [Activation.identity, .leakyRelu(slope: 0.2), .sigmoid, .tanh],
          [ChannelLayout(outer: 4, channels: 3, inner: 5), ChannelLayout(outer: 6, channels: 4, inner: 1)])
    func batchNorm(activation: Activation, layout: ChannelLayout) throws {
        let x = randomValues(layout.count, seed: 14, in: -2...2)
        let gamma = randomValues(layout.channels, seed: 15, in: 0.5...1.5)
        let beta = randomValues(layout.channels, seed: 16)
        let r = randomValues(layout.count, seed: 17)
        func state(_ g: [Float], _ b: [Float]) throws -> BatchNormState {
            BatchNormState(gamma: try cpu.upload(g), beta: try cpu.upload(b),
                           runningMean: try cpu.upload([Float](repeating: 0, count: layout.channels)),
                           runningVar: try cpu.upload([Float](repeating: 1, count: layout.channels)))
        }
        func forward(_ x: [Float], _ g: [Float], _ b: [Float]) throws -> Double {
            let y = try cpu.buffer(count: layout.count)
            _ = try cpu.batchNormForwardTraining(layout: layout, input: try cpu.upload(x), state: try state(g, b),
                                                 activation: activation, output: y)
            return dot(try cpu.read(y), r)
        }
        let s = try state(gamma, beta)
        let input = try cpu.upload(x)
        let y = try cpu.buffer(count: layout.count)
        let saved = try cpu.batchNormForwardTraining(layout: layout, input: input, state: s, activation: activation, output: y)
        let dx = try cpu.buffer(count: layout.count), dg = try cpu.buffer(count: layout.channels), db = try cpu.buffer(count: layout.channels)
        try cpu.batchNormBackward(layout: layout, input: input, outputGradient: try cpu.upload(r), gamma: s.gamma, saved: saved,
                                  activation: activation, activated: y, inputGradient: dx, gammaGradient: dg, betaGradient: db)
        try checkGradient("BatchNorm dx", at: x, analytic: try cpu.read(dx), h: 1e-3, samples: 60) { try forward($0, gamma, beta) }
        try checkGradient("BatchNorm dgamma", at: gamma, analytic: try cpu.read(dg), h: 1e-3) { try forward(x, $0, beta) }
        try checkGradient("BatchNorm dbeta", at: beta, analytic: try cpu.read(db), h: 1e-3) { try forward(x, gamma, $0) }
    }

    @Test("Adam follows PyTorch's bias-corrected update over several steps")
    func adam() throws {
        let n = 9
        var p = randomValues(n, seed: 18).map(Double.init)
        var m = [Double](repeating: 0, count: n), v = m
        let pb = try cpu.upload(p.map(Float.init))
        let mb = try cpu.upload([Float](repeating: 0, count: n)), vb = try cpu.upload([Float](repeating: 0, count: n))
        let (lr, b1, b2, eps) = (1e-2, 0.5, 0.999, 1e-8)
        for t in 1...4 {
            let g = randomValues(n, seed: 30 + UInt64(t)).map(Double.init)
            try cpu.pointwise(.adam(AdamStep(learningRate: Float(lr), beta1: Float(b1), beta2: Float(b2), epsilon: Float(eps), step: t)),
                              count: n, operands: [try cpu.upload(g.map(Float.init)), pb, mb, vb])
            for i in 0..<n {
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                let mHat = m[i] / (1 - pow(b1, Double(t))), vHat = v[i] / (1 - pow(b2, Double(t)))
                p[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
            expectClose(try cpu.read(pb), p.map(Float.init), rtol: 1e-5, atol: 1e-6, "Adam parameters after step \(t)")
        }
    }
}
