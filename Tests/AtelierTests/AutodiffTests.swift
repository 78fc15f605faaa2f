import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// Losses as training declares them: weighted sums of terms, a term used
/// twice, targets that are computed too, every GAN loss, and the errors for
/// what cannot be differentiated. Each against central finite differences of
/// the same plan's loss.
struct AutodiffTests {
    let cpu = CPUBackend()

    /// Two 5x4 weights and a 3x4 input, as in a generator and a discriminator.
    struct Setup {
        let graph = Graph()
        let w = Parameter(name: "W", shape: [5, 4], initial: randomValues(20, seed: 11))
        let v = Parameter(name: "V", shape: [5, 4], initial: randomValues(20, seed: 12))
        let x: Tensor
        init() { x = graph.input("x", [3, 4]) }
        /// x W^T (or x V^T): [3, 5].
        func project(_ p: Parameter) throws -> Tensor {
            try graph(.matmul(transposeA: false, transposeB: true), x, graph.parameter(p))
        }
    }

    /// Builds the loss with `build`, differentiates it with respect to W and
    /// V, and checks every gradient value against central differences.
    func check(_ what: String, build: (Setup) throws -> Tensor) throws {
        let s = Setup()
        let loss = try build(s)
        let grads = try s.graph.gradients(of: loss, withRespectTo: [s.graph.parameter(s.w), s.graph.parameter(s.v)])
        for p in [s.w, s.v] { try p.place(on: cpu) }
        let plan = try Plan(s.graph, on: cpu, keep: [loss] + grads)
        try plan.write(randomValues(12, seed: 13), to: s.x)
        try plan.run()
        let analytic = try grads.map { try plan.read($0) }
        let h: Float = 1e-3
        for (p, gradient) in zip([s.w, s.v], analytic) {
            let buffer = try p.bound()
            var values = try cpu.read(buffer)
            for i in values.indices {
                let original = values[i]
                func lossValue(at value: Float) throws -> Double {
                    values[i] = value
                    try cpu.write(values, to: buffer)
                    try plan.run()
                    return Double(try plan.read(loss)[0])
                }
                let numeric = (try lossValue(at: original + h) - lossValue(at: original - h)) / Double(2 * h)
                values[i] = original
                try cpu.write(values, to: buffer)
                #expect(abs(numeric - Double(gradient[i])) <= 2e-2 * abs(numeric) + 2e-3,
                        "\(what): d loss / d \(p.name)[\(i)]: numeric \(numeric), autodiff \(gradient[i])")
            }
        }
    }

    @Test("A weighted sum of loss terms: L_GAN + 100 L1 + 0.5 MSE, nested scalings")
    func weightedSum() throws {
        try check("weighted sum") { s in
            let g = s.graph
            let fake = try g(.activation(.tanh), try s.project(s.w))
            let gan = try g(.loss(.bceWithLogits), try g(.matmul(transposeA: false, transposeB: false), fake, g.constant(0.3, [5, 1])),
                            g.constant(1, [3, 1]))
            let l1 = try g(.loss(.l1), fake, g.constant(0.2, [3, 5]))
            let mse = try g(.loss(.mse), try s.project(s.v), g.constant(-0.4, [3, 5]))
            return try g(.add, try g(.add, gan, try g(.scale(100), l1)), try g(.scale(0.5), mse))
        }
        try check("nested scalings") { s in
            let g = s.graph
            let a = try g(.loss(.mse), try s.project(s.w), g.constant(0.1, [3, 5]))
            let b = try g(.loss(.l1), try s.project(s.v), g.constant(0.1, [3, 5]))
            return try g(.scale(0.5), try g(.add, a, try g(.scale(-2), b)))
        }
    }

    @Test("A loss term used twice counts twice; a term differentiated in two phases gets each phase's weight")
    func usedTwice() throws {
        try check("used twice") { s in
            let g = s.graph
            let l = try g(.loss(.mse), try s.project(s.w), try s.project(s.v))
            return try g(.add, l, try g(.scale(3), l))
        }
        // Two phases of one graph share the term with weights 2 and 5.
        let s = Setup()
        let g = s.graph
        let term = try g(.loss(.mse), try s.project(s.w), g.constant(0.5, [3, 5]))
        let first = try g.gradients(of: try g(.scale(2), term), withRespectTo: [g.parameter(s.w)])[0]
        let second = try g.gradients(of: try g(.scale(5), term), withRespectTo: [g.parameter(s.w)])[0]
        let plain = try g.gradients(of: term, withRespectTo: [g.parameter(s.w)])[0]
        for p in [s.w, s.v] { try p.place(on: cpu) }
        let plan = try Plan(g, on: cpu, keep: [first, second, plain])
        try plan.write(randomValues(12, seed: 13), to: s.x)
        try plan.run()
        let (a, b, one) = (try plan.read(first), try plan.read(second), try plan.read(plain))
        expectClose(a, one.map { 2 * $0 }, rtol: 1e-6, atol: 1e-7, "weight 2")
        expectClose(b, one.map { 5 * $0 }, rtol: 1e-6, atol: 1e-7, "weight 5")
    }

    @Test("Targets that depend on the parameters get gradients too: L1, MSE, BCE between two computed tensors")
    func computedTargets() throws {
        try check("L1 and MSE between computed tensors") { s in
            let g = s.graph
            let (a, b) = (try s.project(s.w), try g(.activation(.tanh), try s.project(s.v)))
            return try g(.add, try g(.loss(.l1), a, b), try g(.scale(3), try g(.loss(.mse), b, a)))
        }
        try check("BCE with a computed target") { s in
            let g = s.graph
            return try g(.loss(.bceWithLogits), try s.project(s.w), try g(.activation(.sigmoid), try s.project(s.v)))
        }
    }

    @Test("GAN losses: vanilla, LSGAN and hinge, for D and for G")
    func ganLosses() throws {
        try check("hinge") { s in
            let g = s.graph
            let (real, fake) = (try s.project(s.w), try s.project(s.v))
            let d = try g(.add, try g(.loss(.hinge), real, g.constant(1, [3, 5])), try g(.loss(.hinge), fake, g.constant(-1, [3, 5])))
            let generator = try g(.scale(-1), try g(.loss(.mean), fake))
            return try g(.add, d, generator)
        }
        try check("lsgan") { s in
            let g = s.graph
            return try g(.add, try g(.scale(0.5), try g(.loss(.mse), try s.project(s.w), g.constant(1, [3, 5]))),
                         try g(.scale(0.5), try g(.loss(.mse), try s.project(s.v), g.constant(0, [3, 5]))))
        }
    }

    @Test("What cannot be differentiated is an error that names it")
    func errors() throws {
        let s = Setup()
        let g = s.graph
        let l = try g(.loss(.mse), try s.project(s.w), g.constant(0, [3, 5]))
        let squashed = try g(.activation(.tanh), try g(.reshape([1]), l))
        #expect {
            _ = try g.gradients(of: try g(.reshape([]), squashed), withRespectTo: [g.parameter(s.w)])
        } throws: { "\($0)".contains("may only be scaled by constants and summed") }

        let hinge = try g(.loss(.hinge), try s.project(s.w), try s.project(s.v))
        #expect {
            _ = try g.gradients(of: hinge, withRespectTo: [g.parameter(s.v)])
        } throws: { "\($0)".contains("targets must be constants") }

        let unused = Parameter(name: "D.unused", shape: [2], initial: [0, 0])
        #expect {
            _ = try g.gradients(of: l, withRespectTo: [g.parameter(unused)])
        } throws: { "\($0)".contains("D.unused does not influence the loss") }
    }
}
