import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// Numerics against the peers: with the canonical initial weights and noise
/// of ../shared/peers (common.py export), our first three training steps
/// must give PyTorch's losses.
enum PeerReference {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let commonPy = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/peers/common.py")

    /// [[D, G]] per step, from ../shared/peers/README.md.
    static let pytorchLosses: [ModelKind: [[Float]]] = [
        .gan: [[1.371144, 0.871881], [1.285384, 0.952163], [1.224519, 0.978799]],
        .dcgan: [[1.955409, 0.9871], [1.300085, 0.93784], [1.022376, 1.12571]],
    ]

    static let available: Bool = {
        FileManager.default.fileExists(atPath: commonPy.path)
            && FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz")
            && (try? export()) != nil
    }()

    struct Exported {
        let params: [String: [(name: String, values: [Float])]]  // by peer model name, in order
        let noise: [[Float]]  // 3 steps of [64 x 100]
    }

    nonisolated(unsafe) private static var cached: Exported?

    /// Runs `python3 common.py export` and converts the arrays to raw floats.
    static func export() throws -> Exported {
        if let cached { return cached }
        let dir = try temporaryDirectory("peers")
        let script = """
        import json, os, subprocess, sys
        import numpy as np
        out = sys.argv[1]
        subprocess.run([sys.executable, sys.argv[2], "export", out], check=True)
        index = {}
        for m in ("mlp", "dcgan"):
            z = np.load(os.path.join(out, m + "_params.npz"))
            index[m] = []
            for k in z.files:
                z[k].astype(np.float32).tofile(os.path.join(out, m + "." + k + ".f32"))
                index[m].append(k)
        np.load(os.path.join(out, "check_noise.npy")).astype(np.float32).tofile(os.path.join(out, "noise.f32"))
        json.dump(index, open(os.path.join(out, "index.json"), "w"))
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, dir.path, commonPy.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("python3 common.py export failed (needs python3 with numpy)") }
        func floats(_ name: String) throws -> [Float] {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("index.json"))) as! [String: [String]]
        var params: [String: [(String, [Float])]] = [:]
        for (model, names) in index {
            params[model] = try names.map { ($0, try floats("\(model).\($0).f32")) }
        }
        let noise = try floats("noise.f32")
        let result = Exported(params: params, noise: (0..<3).map { Array(noise[$0 * 6400..<($0 + 1) * 6400]) })
        cached = result
        return result
    }

    /// A trainer whose weights are the canonical ones.
    static func trainer(_ kind: ModelKind, on backend: Backend) throws -> (Trainer, GANModel) {
        var rng = RandomGenerator(seed: 0)
        let model = try GANModel(config: ModelConfig(kind: kind), rng: &rng)
        let trainer = try Trainer(model: model, backend: backend)
        let canonical = try export().params[kind == .gan ? "mlp" : "dcgan"]!
        let ours = model.namedParameters.map(\.parameter).filter(\.trainable)
        guard canonical.count == ours.count else {
            throw TestFailure("\(kind): \(canonical.count) canonical parameters, \(ours.count) in the model")
        }
        for (p, (name, values)) in zip(ours, canonical) {
            guard values.count == p.shape.count else { throw TestFailure("\(name) has \(values.count) values, \(p.shape) expected") }
            try backend.write(values, to: try p.bound())
        }
        return (trainer, model)
    }

    /// The first three steps' [D, G] losses on train images 0..191 in file order.
    static func losses(_ kind: ModelKind, on backend: Backend) throws -> [[Float]] {
        let (trainer, model) = try trainer(kind, on: backend)
        let data = try FashionMNIST.load()
        let noise = try export().noise
        return try (0..<3).map { s in
            let real = data.batch(Array(s * 64..<(s + 1) * 64)[...], range: model.config.pixelRange)
            let (batch, feed) = try model.feed(real: real, noise: noise[s])
            try trainer.step(batch: batch, feed: feed)
            let stats = try trainer.statistics()
            return [stats["Loss_D"]!, stats["Loss_G"]!]
        }
    }
}

@Suite(.enabled(if: PeerReference.available,
                "needs ../shared/peers/common.py, python3 with numpy and dataset-fashion-mnist"))
struct ReferenceTests {
    @Test("First three steps match PyTorch's losses on the CPU path", arguments: [ModelKind.gan, .dcgan])
    func matchesPyTorch(kind: ModelKind) throws {
        let ours = try PeerReference.losses(kind, on: CPUBackend())
        let theirs = PeerReference.pytorchLosses[kind]!
        for (step, (a, b)) in zip(ours, theirs).enumerated() {
            // The peers agree with each other to 2.4e-4.
            #expect(abs(a[0] - b[0]) <= 5e-4 && abs(a[1] - b[1]) <= 5e-4,
                    "\(kind) step \(step + 1): ours [D \(a[0]), G \(a[1])], PyTorch [D \(b[0]), G \(b[1])]")
        }
    }

    @Test("The same three steps give the same losses on PoCL as on the CPU path", .requiresOpenCL,
          arguments: [ModelKind.gan, .dcgan])
    func openCLMatchesCPU(kind: ModelKind) throws {
        let cpu = try PeerReference.losses(kind, on: CPUBackend())
        let cl = try PeerReference.losses(kind, on: try OpenCLTestSupport.backend())
        // Different summation orders drift apart over GAN steps: by step 3
        // of dcgan PoCL and the CPU path differ by 1.3e-4 (the CPU path is
        // within 1e-6 of PyTorch there); the peers differ by 2.4e-4.
        for (step, (a, b)) in zip(cl, cpu).enumerated() {
            #expect(abs(a[0] - b[0]) <= 2.5e-4 && abs(a[1] - b[1]) <= 2.5e-4,
                    "\(kind) step \(step + 1): OpenCL [D \(a[0]), G \(a[1])], CPU [D \(b[0]), G \(b[1])] (tolerance 2.5e-4)")
        }
    }
}

/// pytorch/examples' DCGAN at 64x64 RGB: three steps from the same weights
/// and inputs give PyTorch's losses. The reference was computed by
/// Tests/Reference/torch_dcgan64.py (its docstring says how to rerun it),
/// so this test needs no Python.
struct DCGAN64ReferenceTests {
    static let (nz, ngf, ndf, batch) = (100, 16, 16, 4)
    /// [Loss_D, Loss_G] of steps 1-3, PyTorch 2.13 CPU, float32.
    static let pytorchLosses: [[Float]] = [[1.902762, 1.343513], [1.475105, 1.347426], [1.315961, 1.520918]]

    @Test("dcgan 64x64 RGB: three steps match pytorch/examples' DCGAN in PyTorch")
    func dcgan64MatchesPyTorch() throws {
        var rng = RandomGenerator(seed: 0)
        let config = ModelConfig(kind: .dcgan, nz: Self.nz, imageChannels: 3, imageSize: 64, ngf: Self.ngf, ndf: Self.ndf)
        let model = try GANModel(config: config, rng: &rng)
        let backend = CPUBackend()
        let trainer = try Trainer(model: model, backend: backend)
        var inputs = RandomGenerator(seed: 1)
        let real = (0..<3).map { _ in inputs.uniform(Self.batch * 3 * 64 * 64, in: -1...1) }
        let noise = (0..<3).map { _ in inputs.normal(Self.batch * Self.nz) }
        if let folder = ProcessInfo.processInfo.environment["ATELIER_DCGAN64_EXPORT"] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            // G's then D's trainable parameters in PyTorch's named_parameters order.
            let weights = try (model.generator.parameters + model.discriminator.parameters).filter(\.trainable)
                .flatMap { try backend.read(try $0.bound()) }
            func write(_ values: [Float], _ name: String) throws {
                try values.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: folder + "/" + name))
            }
            try write(weights, "weights.f32")
            try write(real.flatMap { $0 }, "real.f32")
            try write(noise.flatMap { $0 }, "noise.f32")
            let meta = ["nz": Self.nz, "ngf": Self.ngf, "ndf": Self.ndf, "nc": 3, "batch": Self.batch]
            try JSONSerialization.data(withJSONObject: meta).write(to: URL(fileURLWithPath: folder + "/meta.json"))
        }
        var ours: [[Float]] = []
        for s in 0..<3 {
            let (batch, feed) = try model.feed(real: real[s], noise: noise[s])
            try trainer.step(batch: batch, feed: feed)
            let stats = try trainer.statistics()
            ours.append([stats["Loss_D"]!, stats["Loss_G"]!])
        }
        #expect(ours.count == Self.pytorchLosses.count, "ours: \(ours)")
        for (step, (a, b)) in zip(ours, Self.pytorchLosses).enumerated() {
            #expect(abs(a[0] - b[0]) <= 5e-4 && abs(a[1] - b[1]) <= 5e-4,
                    "step \(step + 1): ours [D \(a[0]), G \(a[1])], PyTorch [D \(b[0]), G \(b[1])]")
        }
    }
}
