import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// Walks every op of OpRegistry: autodiff against central finite
/// differences on the CPU path, and the CPU path and OpenCL against the
/// reference backend (forward output and every gradient) on the registry's
/// odd shapes.
struct OpRegistryTests {
    /// The sample's op in a graph whose loss is mse(output, target), with the
    /// gradients of the differentiable inputs; inputs filled from `seed`.
    struct Built {
        let plan: Plan
        let inputs: [Tensor]
        let output: Tensor
        let loss: Tensor
        let gradients: [Tensor?]
        let values: [[Float]]
        let target: [Float]
    }

    static func build(_ sample: OpRegistry.Sample, on backend: Backend) throws -> Built {
        let g = Graph()
        let inputs = sample.inputs.enumerated().map { g.input("x\($0.offset)", $0.element.shape) }
        let output = try sample.build(g, inputs)
        // A loss op is the loss itself; any other op's output is compared with a target.
        let target = g.input("target", output.shape == [] ? [1] : output.shape)
        let loss = output.shape == [] ? output : try g(.loss(.mse), output, target)
        let wanted = zip(inputs, sample.inputs).filter { $0.1.differentiable }.map(\.0)
        let grads = try g.gradients(of: loss, withRespectTo: wanted)
        var gradients: [Tensor?] = []
        var next = 0
        for s in sample.inputs {
            gradients.append(s.differentiable ? grads[next] : nil)
            if s.differentiable { next += 1 }
        }
        let plan = try Plan(g, on: backend, keep: [output, loss] + grads)
        var values: [[Float]] = []
        for (i, s) in sample.inputs.enumerated() {
            let v = sample.fixed[i] ?? randomValues(s.shape.count, seed: UInt64(31 + i), in: s.range)
            try plan.write(v, to: inputs[i])
            values.append(v)
        }
        let targetValues = randomValues(max(1, output.shape.count), seed: 77)
        try plan.write(targetValues, to: target)
        return Built(plan: plan, inputs: inputs, output: output, loss: loss, gradients: gradients, values: values, target: targetValues)
    }

    @Test("The registry covers every forward op")
    func coverage() {
        let covered = Set(OpRegistry.samples.map(\.kind))
        #expect(OpRegistry.kinds.subtracting(covered).isEmpty, "ops without samples: \(OpRegistry.kinds.subtracting(covered).sorted())")
    }

    @Test("Every op's gradients match finite differences (CPU path)", arguments: OpRegistry.samples.map(\.name))
    func finiteDifferences(name: String) throws {
        let sample = OpRegistry.samples.first { $0.name == name }!
        let cpu = CPUBackend()
        let b = try Self.build(sample, on: cpu)
        try b.plan.run()
        let gradients = try b.gradients.map { try $0.map { try b.plan.read($0) } }
        let h: Float = 1e-2
        for (i, s) in sample.inputs.enumerated() where s.differentiable {
            let analytic = gradients[i]!
            var values = b.values[i]
            var rng = SplitMix64(seed: 5)
            let positions = values.count <= 24 ? Array(values.indices) : (0..<24).map { _ in Int.random(in: 0..<values.count, using: &rng) }
            for p in positions {
                let original = values[p]
                func loss(_ v: Float) throws -> Double {
                    values[p] = v
                    try b.plan.write(values, to: b.inputs[i])
                    try b.plan.run()
                    // In double precision from the output, so the float sum's rounding does not blur the difference.
                    let out = try b.plan.read(b.output)
                    if b.output.shape == [] { return Double(out[0]) }
                    return zip(out, b.target).reduce(0) { $0 + pow(Double($1.0) - Double($1.1), 2) } / Double(out.count)
                }
                let numeric = (try loss(original + h) - loss(original - h)) / Double(2 * h)
                values[p] = original
                try b.plan.write(values, to: b.inputs[i])
                let scale = Double(analytic.map { abs($0) }.max() ?? 0)
                #expect(abs(numeric - Double(analytic[p])) <= 2e-2 * max(abs(numeric), 0.05 * scale) + 1e-5,
                        "\(name): d loss / d input \(i) [\(p)]: numeric \(numeric), autodiff \(analytic[p])")
            }
        }
    }

    /// `backend`'s output and gradients against the reference backend's.
    static func checkAgainstReference(_ sample: OpRegistry.Sample, on backend: Backend) throws {
        let (ref, other) = (try build(sample, on: ReferenceBackend()), try build(sample, on: backend))
        try ref.plan.run()
        try other.plan.run()
        let what = "\(sample.name) on \(backend.name)"
        expectClose(try other.plan.read(other.output), try ref.plan.read(ref.output), rtol: 1e-4, atol: 1e-5, "\(what): output")
        for (i, (a, c)) in zip(other.gradients, ref.gradients).enumerated() {
            guard let a, let c else { continue }
            expectClose(try other.plan.read(a), try ref.plan.read(c), rtol: 1e-3, atol: 1e-5, "\(what): gradient of input \(i)")
        }
    }

    @Test("Every op gives the reference's output and gradients on the CPU path", arguments: OpRegistry.samples.map(\.name))
    func cpuParity(name: String) throws {
        try Self.checkAgainstReference(OpRegistry.samples.first { $0.name == name }!, on: CPUBackend())
    }

    @Test("Every op gives the reference's output and gradients on OpenCL", .requiresOpenCL, arguments: OpRegistry.samples.map(\.name))
    func openCLParity(name: String) throws {
        try Self.checkAgainstReference(OpRegistry.samples.first { $0.name == name }!, on: try OpenCLTestSupport.backend())
    }
}

/// Dropout's masks: the share dropped, what they depend on, and the same
/// bits on both backends.
struct DropoutTests {
    func mask(seed: UInt32, salt: Int, probability: Float = 0.3, count: Int = 20_000, on backend: Backend = CPUBackend()) throws -> [Float] {
        let g = Graph()
        let x = g.input("x", [count]), s = g.input("seed", [2])
        let y = try g.apply(DropoutOp(probability: probability, salt: salt), [x, s])[0]
        let plan = try Plan(g, on: backend, keep: [y])
        try plan.write([Float](repeating: 1, count: count), to: x)
        try plan.write(DropoutOp.seedValues(seed), to: s)
        try plan.run()
        return try plan.read(y)
    }

    @Test("Dropout keeps 1 - p of the values, scaled by 1 / (1 - p); masks follow seed and salt only")
    func masks() throws {
        let a = try mask(seed: 7, salt: 1)
        let kept = a.filter { $0 != 0 }
        #expect(abs(Float(kept.count) / Float(a.count) - 0.7) < 0.015, "kept \(kept.count) of \(a.count)")
        #expect(kept.allSatisfy { $0 == 1 / (1 - Float(0.3)) })
        #expect(try mask(seed: 7, salt: 1) == a, "the same seed and salt give the same mask")
        #expect(try mask(seed: 8, salt: 1) != a && (try mask(seed: 7, salt: 2)) != a, "another seed or salt gives another mask")
        #expect(try mask(seed: 0x8000_0001, salt: 1) != (try mask(seed: 1, salt: 1)), "the seed's high half counts")
    }

    @Test("Dropout masks are the same bits on OpenCL", .requiresOpenCL)
    func openCLMasks() throws {
        #expect(try mask(seed: 123_456_789, salt: 5, on: try OpenCLTestSupport.backend()) == (try mask(seed: 123_456_789, salt: 5)))
    }
}

/// The OpenCL formulas of every activation and loss live, by name, in Kernels/formulas.cl.
struct FormulaTests {
    @Test("Every activation and loss names a formula that Kernels/formulas.cl defines, with its gradient")
    func formulasDefined() throws {
        let source = try KernelSources.source(named: "formulas.cl")
        let names = [Activation.identity, .relu, .leakyRelu(slope: 0.2), .sigmoid, .tanh].map(\.formula) + ReduceOp.allCases.map(\.formula)
        for name in names {
            #expect(source.contains("#define \(name)(") && source.contains("#define \(name)_GRAD("), "formulas.cl lacks \(name) or its gradient")
        }
        #expect(Activation.sigmoid.forwardBody == "y = ATELIER_SIGMOID(x, p);" && ReduceOp.mse.gradientExpression == "ATELIER_MSE_GRAD(a, b, s)")
    }
}
