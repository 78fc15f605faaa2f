import Foundation
import Testing
@testable import Atelier

/// pix2pix's networks and step: junyanz's layout and names, and three steps
/// that match PyTorch. The reference figures were computed by
/// Tests/Reference/torch_pix2pix.py (its docstring says how to rerun it) with
/// the networks of ../shared/peers/torch_i2i.py, so this test needs no Python.
struct Pix2PixTests {
    static let (size, batch, inputs, outputs, width) = (32, 2, 3, 1, 8)
    /// Every term of steps 0-2 and the step-0 gradient norms, PyTorch 2.13 CPU, float32.
    static let pytorch: [[String: Float]] = [
        ["D": 0.697287, "G": 51.339073, "D_real": 0.637743, "D_fake": 0.75683, "G_GAN": 0.730797, "G_L1": 50.608276],
        ["D": 0.698246, "G": 51.18314, "D_real": 0.590229, "D_fake": 0.806263, "G_GAN": 0.69044, "G_L1": 50.492699],
        ["D": 0.718806, "G": 51.229065, "D_real": 0.597473, "D_fake": 0.840139, "G_GAN": 0.655757, "G_L1": 50.573307],
    ]
    static let pytorchGradientNorms: [String: Float] = ["G": 24.664987, "D": 3.119362]

    static func config(size: Int, inputs: Int, outputs: Int, width: Int, norm: TranslationSettings.Norm = .batch, dropout: Float = 0.5) -> ModelConfig {
        ModelConfig(kind: .pix2pix, imageChannels: outputs, imageSize: size, ngf: width, ndf: width,
                    translation: TranslationSettings(inputChannels: inputs, norm: norm, dropout: dropout))
    }

    @Test("pix2pix: three steps match junyanz's pix2pix in PyTorch (every term, step-0 gradient norms) on the CPU path")
    func pix2pixMatchesPyTorch() throws {
        try matchPyTorch(on: CPUBackend())
    }

    @Test("pix2pix: the same three steps match PyTorch on PoCL", .requiresOpenCL)
    func pix2pixMatchesPyTorchOnOpenCL() throws {
        try matchPyTorch(on: try OpenCLTestSupport.backend())
    }

    func matchPyTorch(on backend: Backend) throws {
        var rng = RandomGenerator(seed: 3)
        let config = Self.config(size: Self.size, inputs: Self.inputs, outputs: Self.outputs, width: Self.width, dropout: 0)
        let model = try Pix2PixModel(config: config, rng: &rng)
        let trainer = try Trainer(model: model, backend: backend)
        var random = RandomGenerator(seed: 4)
        let a = (0..<3).map { _ in random.uniform(Self.batch * config.inputShape.reduce(1, *), in: -1...1) }
        let b = (0..<3).map { _ in random.uniform(Self.batch * config.imageShape.reduce(1, *), in: -1...1) }
        if let folder = ProcessInfo.processInfo.environment["ATELIER_PIX2PIX_EXPORT"], backend is CPUBackend {
            try ReferenceExport.write(model, on: backend, a: a, b: b, meta: ["size": Self.size, "batch": Self.batch, "in": Self.inputs, "out": Self.outputs, "ngf": Self.width], to: folder)
        }
        let names = ["D": "Loss_D", "G": "Loss_G", "D_real": "D_real", "D_fake": "D_fake", "G_GAN": "G_GAN", "G_L1": "G_L1"]
        // PyTorch's own float32 runs differ by 1e-6, 5e-6 and 3.3e-4 over these steps (peers README).
        let bounds: [Float] = [1e-5, 3e-5, 2e-3]
        for s in 0..<3 {
            let (n, feed) = try model.feed(input: a[s], target: b[s])
            try trainer.step(batch: n, feed: feed)
            let stats = try trainer.statistics()
            if s == 0 {
                for group in ["D", "G"] {
                    let g = try backend.read(try trainer.group(group).gradients)
                    let norm = Float(g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
                    let reference = try #require(Self.pytorchGradientNorms[group])
                    #expect(abs(norm - reference) <= 1e-4 * reference, "\(backend.name): step 0 gradient norm of \(group): ours \(norm), PyTorch \(reference)")
                }
            }
            let reference = try #require(Self.pytorch.count > s ? Self.pytorch[s] : nil, "no reference for step \(s)")
            for (torchName, ours) in names {
                let value = try #require(stats[ours]), expected = try #require(reference[torchName])
                #expect(abs(value - expected) <= bounds[s] * max(1, abs(expected)), "\(backend.name): step \(s) \(torchName): ours \(value), PyTorch \(expected)")
            }
        }
    }

    @Test("pix2pix networks have junyanz's parameter names and shapes, and the right output shapes at every size")
    func networksAsJunyanz() throws {
        var rng = RandomGenerator(seed: 0)
        let model = try Pix2PixModel(config: Self.config(size: 64, inputs: 3, outputs: 3, width: 64), rng: &rng)
        let trainable = model.namedParameters.filter(\.parameter.trainable)
        let shapes = Dictionary(uniqueKeysWithValues: trainable.map { ($0.name, $0.parameter.shape.dims) })
        // The counts and names torch_i2i.py's README lists for 64 px with BatchNorm.
        #expect(trainable.filter { $0.name.hasPrefix("G.") }.count == 31)
        #expect(trainable.filter { $0.name.hasPrefix("D.") }.count == 13)
        let expected: [(String, [Int]?)] = [
            ("G.model.model.0.weight", [64, 3, 4, 4]), ("G.model.model.0.bias", nil),  // no bias in front of BatchNorm
            ("G.model.model.3.weight", [128, 3, 4, 4]), ("G.model.model.3.bias", [3]),
            ("G.model.model.1.model.1.weight", [128, 64, 4, 4]), ("G.model.model.1.model.2.weight", [128]),
            ("G.model.model.1.model.5.weight", [256, 64, 4, 4]),
            ("G.model.model.1.model.3.model.3.model.3.model.3.model.1.weight", [512, 512, 4, 4]),
            ("G.model.model.1.model.3.model.3.model.3.model.3.model.3.weight", [512, 512, 4, 4]),
            ("D.model.0.weight", [64, 6, 4, 4]), ("D.model.0.bias", [64]), ("D.model.8.weight", [512, 256, 4, 4]),
            ("D.model.9.weight", [512]), ("D.model.11.weight", [1, 512, 4, 4]), ("D.model.11.bias", [1]),
        ]
        for (name, shape) in expected { #expect(shapes[name] == shape, "\(name)") }
        let total: Int = trainable.reduce(0) { $0 + $1.parameter.shape.count }
        #expect(total == 29_244_035 + 2_768_705, "G and D have as many parameters as junyanz's at 64 px")

        for (size, norm) in [(32, TranslationSettings.Norm.batch), (128, .instance), (256, .batch)] {
            let config = Self.config(size: size, inputs: 1, outputs: 3, width: 4, norm: norm)
            let m = try Pix2PixModel(config: config, rng: &rng)
            let g = Graph()
            let context = ForwardContext(graph: g, training: true)
            let x = g.input("A", [2, 1, size, size])
            #expect(try m.generator(x, context).shape == [2, 3, size, size])
            let pair = g.input("AB", [2, 4, size, size])
            let side = PatchDiscriminator.outputSide(size)
            #expect(try m.discriminator(pair, context).shape == [2, 1, side, side])
            #expect(side == size / 8 - 2, "PatchGAN logits at \(size) px")
            // Dropout in the depth - 5 levels above the innermost, kept on when translating.
            let dropouts = Self.modules(m.generator).compactMap { $0 as? Dropout }
            #expect(dropouts.count == size.trailingZeroBitCount - 5 && dropouts.allSatisfy(\.inEvaluation))
            #expect(Self.modules(m.generator).contains { $0 is InstanceNorm } == (norm == .instance))
        }
        #expect(throws: ShapeError.self) { try Pix2PixModel(config: Self.config(size: 48, inputs: 3, outputs: 3, width: 8), rng: &rng) }
    }

    static func modules(_ m: Module) -> [Module] {
        var out: [Module] = [m]
        if let level = m as? UNetLevel { out += level.model.flatMap(modules) }
        if let g = m as? UNetGenerator { out += modules(g.model) }
        return out
    }
}
