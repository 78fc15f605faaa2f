import Foundation
import Testing
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// Spectral normalisation: the power iteration and its stored vectors on
/// each backend, and `--spectral-norm` from the model to the checkpoint, the
/// export and back (the op's gradient and parity are OpRegistry's).
struct SpectralNormTests {
    static let (rows, columns) = (7, 12)

    /// The largest singular value of a [rows, columns] matrix, by a long power iteration in Double.
    static func largestSingularValue(_ w: [Float]) -> Double {
        let w = w.map(Double.init)
        var u = [Double](repeating: 1, count: rows), sigma = 0.0
        for _ in 0..<3000 {
            var v = (0..<columns).map { j in (0..<rows).reduce(0.0) { $0 + w[$1 * columns + j] * u[$1] } }
            let nv = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / nv }
            u = (0..<rows).map { i in (0..<columns).reduce(0.0) { $0 + w[i * columns + $1] * v[$1] } }
            sigma = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
            u = u.map { $0 / sigma }
        }
        return sigma
    }

    /// sigma after each of `runs` runs of one plan, from a random u and zero v, and the last output.
    static func run(_ runs: Int, updating: Bool, on backend: Backend) throws -> (sigmas: [Float], output: [Float], w: [Float]) {
        let g = Graph()
        let w = g.input("w", [rows, 3, 2, 2]), u = g.input("u", [rows]), v = g.input("v", [columns])
        let outputs = try g.apply(SpectralNormOp(updatesVectors: updating), [w, u, v])
        let plan = try Plan(g, on: backend, keep: outputs)
        var rng = RandomGenerator(seed: 11)
        let weights = rng.normal(rows * columns)
        try plan.write(weights, to: w)
        try plan.write(rng.normal(rows), to: u)
        try plan.write([Float](repeating: 0, count: columns), to: v)
        var sigmas: [Float] = []
        for _ in 0..<runs {
            try plan.run()
            sigmas.append(try plan.read(outputs[1])[rows + columns])
        }
        return (sigmas, try plan.read(outputs[0]), weights)
    }

    static func checkPowerIteration(on backend: Backend) throws {
        let trained = try run(40, updating: true, on: backend)
        let exact = largestSingularValue(trained.w)
        let last = Double(trained.sigmas.last!)
        #expect(abs(last - exact) / exact < 1e-4, "\(backend.name): sigma \(last) after 40 steps, largest singular value \(exact)")
        #expect(trained.sigmas.allSatisfy { Double($0) <= exact * (1 + 1e-5) }, "a power-iteration estimate stays under sigma: \(trained.sigmas)")
        #expect(abs(Double(trained.sigmas[0]) - exact) > 1e-3 * exact, "the first estimate, from a random u, is not converged yet")
        for (out, w) in zip(trained.output, trained.w) { #expect(abs(out - w / trained.sigmas.last!) <= 1e-6 * max(1, abs(out))) }
        // Eval mode leaves u and v alone: every run gives the first run's estimate.
        let fixed = try run(3, updating: false, on: backend)
        #expect(fixed.sigmas == [Float](repeating: trained.sigmas[0], count: 3), "\(fixed.sigmas) against \(trained.sigmas[0])")
    }

    @Test("The power iteration converges to the largest singular value when it writes its vectors back, and stands still when it does not (CPU)")
    func powerIterationCPU() throws {
        try Self.checkPowerIteration(on: CPUBackend())
    }

    @Test("The power iteration converges to the largest singular value on OpenCL", .requiresOpenCL)
    func powerIterationOpenCL() throws {
        try Self.checkPowerIteration(on: try OpenCLTestSupport.backend())
    }

    @Test("--spectral-norm gives D's convolutions and dense layers their vectors, keeps them in the checkpoint, and exports them as PyTorch names them",
          .enabled(if: RobustnessTests.fashionMNIST, "needs dataset-fashion-mnist"))
    func modelCheckpointAndExport() throws {
        var config = ModelConfig(kind: .dcgan, ngf: 8, ndf: 8)
        config.spectralNorm = true
        var rng = RandomGenerator(seed: 0)
        let model = try GANModel(config: config, rng: &rng)
        let vectors = model.discriminator.namedParameters().filter { $0.name.hasSuffix("_u") || $0.name.hasSuffix("_v") }.map(\.name)
        // dcgan at 28 px: D's two convolutions and its dense logit; BatchNorm and G get none.
        #expect(vectors == ["layers.0.weight_u", "layers.0.weight_v", "layers.2.weight_u", "layers.2.weight_v",
                            "layers.6.weight_u", "layers.6.weight_v"], "\(vectors)")
        #expect(!model.generator.namedParameters().contains { $0.name.hasSuffix("weight_u") })
        #expect(model.discriminator.namedParameters().filter { $0.name.hasSuffix("weight_u") }.allSatisfy { !$0.parameter.trainable })
        var plain = config
        plain.spectralNorm = false
        var same = RandomGenerator(seed: 0)
        let unnormalized = try GANModel(config: plain, rng: &same)
        #expect(unnormalized.discriminator.namedParameters().map { $0.parameter.initial }
                == model.discriminator.namedParameters().filter { !$0.name.contains("weight_") }.map { $0.parameter.initial },
                "turning it on draws no other weights")
        var translation = ModelConfig(kind: .pix2pix, imageSize: 32)
        translation.spectralNorm = true
        #expect(throws: ShapeError.self) { try translation.validate() }

        let dir = try temporaryDirectory("spectral")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run").path
        let trained = try Executables.run("atelier", ["train", "--model", "gan", "--spectral-norm", "--dry-run", "--limit-images", "64",
                                                      "--device", "cpu", "--out", run])
        #expect(trained.status == 0, "\(trained.stderr)")
        let options = try JSONDecoder().decode(TrainingOptions.self, from: Data(contentsOf: RunFiles(run).options))
        #expect(options.spectralNorm)
        let (state, tensors) = try Checkpoint.read(RunFiles(run).checkpoint.path)
        #expect(state.model.spectralNorm)
        // The step's power iteration moved u from where the model starts it.
        var fresh = RandomGenerator(seed: 0)
        var ganConfig = ModelConfig(kind: .gan)
        ganConfig.spectralNorm = true
        let start = try GANModel(config: ganConfig, rng: &fresh).discriminator.namedParameters().first { $0.name == "layers.5.weight_u" }!
        let stored = try #require(tensors["discriminator.layers.5.weight_u"])
        #expect(stored.values.count == 1024 && stored.values != start.parameter.initial)

        let exported = dir.appendingPathComponent("D.safetensors").path
        let export = try Executables.run("atelier", ["export", "--checkpoint", RunFiles(run).checkpoint.path, "--network", "discriminator",
                                                     "--out", exported])
        #expect(export.status == 0, "\(export.stderr)")
        let keys = try Set(Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: exported)), source: exported).0.keys)
        #expect(keys == ["0.weight_orig", "0.weight_u", "0.weight_v", "0.bias", "2.weight_orig", "2.weight_u", "2.weight_v", "2.bias",
                         "5.weight_orig", "5.weight_u", "5.weight_v", "5.bias", "7.weight_orig", "7.weight_u", "7.weight_v", "7.bias"],
                "\(keys.sorted())")
        // And back: a new run starts from that D.
        let again = try Executables.run("atelier", ["train", "--model", "gan", "--spectral-norm", "--dry-run", "--limit-images", "64",
                                                    "--init-from", "discriminator=" + exported, "--device", "cpu",
                                                    "--out", dir.appendingPathComponent("again").path])
        #expect(again.status == 0 && again.stdout.contains("discriminator: 16 tensors"), "\(again.stdout)\(again.stderr)")
        let sampled = try Executables.run("atelier", ["sample", "--checkpoint", RunFiles(run).checkpoint.path, "--count", "4",
                                                      "--out", dir.path + "/s.png"])
        #expect(sampled.status == 0, "\(sampled.stderr)")
    }
}
