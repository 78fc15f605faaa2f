import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels

/// CycleGAN's networks, image pool and step: junyanz's layout and names, the
/// pool op on both backends, and three steps that match PyTorch. The
/// reference figures were computed by Tests/Reference/torch_cyclegan.py (its
/// docstring says how to rerun it) with the networks of
/// ../shared/peers/torch_i2i.py, so this test needs no Python.
struct CycleGANTests {
    static func config(size: Int, a: Int = 3, b: Int = 3, width: Int, blocks: Int, pool: Int = 50, identity: Float = 0.5) -> ModelConfig {
        ModelConfig(kind: .cyclegan, imageChannels: b, imageSize: size, ngf: width, ndf: width, ganMode: .lsgan,
                    translation: TranslationSettings(inputChannels: a, norm: .instance, lambdaIdentity: identity, poolSize: pool,
                                                     residualBlocks: blocks))
    }

    @Test("CycleGAN networks have junyanz's parameter names and shapes")
    func networksAsJunyanz() throws {
        var rng = RandomGenerator(seed: 0)
        let model = try CycleGANModel(config: Self.config(size: 64, width: 64, blocks: 6), rng: &rng)
        let shapes = Dictionary(uniqueKeysWithValues: model.namedParameters.filter(\.parameter.trainable).map { ($0.name, $0.parameter.shape.dims) })
        let expected: [(String, [Int]?)] = [
            ("G_A.model.1.weight", [64, 3, 7, 7]), ("G_A.model.1.bias", [64]), ("G_A.model.4.weight", [128, 64, 3, 3]),
            ("G_A.model.7.weight", [256, 128, 3, 3]), ("G_A.model.10.conv_block.1.weight", [256, 256, 3, 3]),
            ("G_A.model.15.conv_block.5.weight", [256, 256, 3, 3]), ("G_A.model.16.weight", [256, 128, 3, 3]),
            ("G_A.model.19.weight", [128, 64, 3, 3]), ("G_A.model.23.weight", [3, 64, 7, 7]), ("G_A.model.23.bias", [3]),
            ("G_B.model.1.weight", [64, 3, 7, 7]), ("D_A.model.0.weight", [64, 3, 4, 4]), ("D_A.model.2.bias", [128]),
            ("D_A.model.3.weight", nil), ("D_B.model.11.weight", [1, 512, 4, 4]),
        ]
        for (name, shape) in expected { #expect(shapes[name] == shape, "\(name)") }
        let count = { (prefix: String) in model.namedParameters.filter { $0.name.hasPrefix(prefix) && $0.parameter.trainable }.reduce(0) { $0 + $1.parameter.shape.count } }
        // torch_i2i.py's counts at 64 px: 7.84M per generator, 2.76M per discriminator.
        #expect(count("G_A.") == 7_837_699 && count("G_B.") == 7_837_699, "G_A \(count("G_A."))")
        #expect(count("D_A.") == 2_764_737 && count("D_B.") == 2_764_737, "D_A \(count("D_A."))")
        let g = Graph()
        let x = g.input("A", [1, 3, 64, 64])
        #expect(try model.generatorA(x, ForwardContext(graph: g, training: true)).shape == [1, 3, 64, 64])
        #expect(throws: ShapeError.self) { try CycleGANModel(config: Self.config(size: 64, a: 1, b: 3, width: 8, blocks: 1), rng: &rng) }
        #expect(try CycleGANModel(config: Self.config(size: 32, a: 1, b: 3, width: 8, blocks: 1, identity: 0), rng: &rng).generatorB.model.count == 20)
    }

    @Test("The image pool stores, swaps and passes images in sample order on the CPU path")
    func imagePoolOnCPU() throws { try checkImagePool(on: CPUBackend()) }

    @Test("The image pool does the same on PoCL", .requiresOpenCL)
    func imagePoolOnOpenCL() throws { try checkImagePool(on: try OpenCLTestSupport.backend()) }

    func checkImagePool(on backend: Backend) throws {
        let per = 2 * 3 * 5
        let images = (0..<(3 * per)).map { Float($0) }, start = (0..<(4 * per)).map { Float(-1 - $0) }
        // Sample 0 is stored in slot 0; sample 1 takes slot 2's image and leaves itself there;
        // sample 2 takes slot 0, which now holds sample 0.
        let plan: [Float] = [-1, 0, 2, 2, 0, -1]
        let g = Graph()
        let x = g.input("x", [3, 2, 3, 5]), p = g.input("plan", [3, 2])
        let pool = Parameter(name: "pool", shape: [4, 2, 3, 5], trainable: false, initial: start)
        try pool.place(on: backend)
        let y = try g.apply(ImagePoolOp(), [x, g.parameter(pool), p])[0]
        let run = try Plan(g, on: backend, keep: [y])
        try run.write(images, to: x)
        try run.write(plan, to: p)
        try run.run()
        let out = try run.read(y), stored = try backend.read(try pool.bound())
        #expect(Array(out[0..<per]) == Array(images[0..<per]))
        #expect(Array(out[per..<2 * per]) == Array(start[2 * per..<3 * per]))
        #expect(Array(out[2 * per..<3 * per]) == Array(images[0..<per]))
        #expect(Array(stored[0..<per]) == Array(images[0..<per]) && Array(stored[2 * per..<3 * per]) == Array(images[per..<2 * per]))
        #expect(Array(stored[per..<2 * per]) == Array(start[per..<2 * per]) && Array(stored[3 * per..<4 * per]) == Array(start[3 * per..<4 * per]))
    }

    @Test("The pool's plan fills the pool first, then swaps about half the time; size 0 passes everything")
    func poolPlan() {
        var plan = ImagePoolPlan(size: 3)
        var random = RandomGenerator(seed: 5)
        #expect(plan.draw(2, random: &random) == [-1, 0, -1, 1] && plan.count == 2)
        #expect(plan.draw(1, random: &random) == [-1, 2] && plan.count == 3)
        let later = plan.draw(1000, random: &random)
        let swaps = stride(from: 0, to: later.count, by: 2).filter { later[$0] >= 0 }
        #expect((400...600).contains(swaps.count), "\(swaps.count) swaps of 1000")
        #expect(swaps.allSatisfy { later[$0] == later[$0 + 1] && (0..<3).contains(Int(later[$0])) })
        var none = ImagePoolPlan(size: 0)
        #expect(none.draw(3, random: &random) == [-1, -1, -1, -1, -1, -1])
    }

    @Test("GIMP patterns: every one gimp-data ships reads; damaged ones are refused by name")
    func gimpPatterns() throws {
        let names = try GimpPattern.list()
        #expect(names.count >= 50 && names.contains("Animal/leopard") && names.contains("Fabric/burlap"))
        for name in names {
            let p = try GimpPattern.read(GimpPattern.defaultDirectory + "/\(name).pat")
            #expect(p.picture.width >= 8 && p.picture.height >= 8 && [1, 3].contains(p.picture.channels), "\(name)")
        }
        let leopard = try Data(contentsOf: URL(fileURLWithPath: GimpPattern.defaultDirectory + "/Animal/leopard.pat"))
        let p = try GimpPattern.decode(leopard, source: "leopard")
        #expect(p.name == "Leopard" && p.picture.width == 64 && p.picture.height == 62 && p.picture.channels == 3)
        // A 2x1 RGBA pattern: alpha over white.
        var rgba = Data([0, 0, 0, 29, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4] + Array("GPAT".utf8) + Array("dot\0\0".utf8))
        rgba += Data([255, 0, 0, 255, 0, 0, 255, 0])
        #expect(try GimpPattern.decode(rgba, source: "x").picture.pixels == [255, 0, 0, 255, 255, 255])
        var damaged: [(String, Data)] = [("truncated", leopard.prefix(500)), ("empty", Data()), ("not a pattern", Data(repeating: 7, count: 64))]
        var wrongVersion = leopard
        wrongVersion[7] = 2
        var channels = leopard
        channels[19] = 5
        var huge = leopard
        huge.replaceSubrange(8..<16, with: [0, 0x7F, 0xFF, 0xFF, 0, 0x7F, 0xFF, 0xFF])
        damaged += [("version 2", wrongVersion), ("5 channels", channels), ("huge", huge)]
        for (what, data) in damaged {
            #expect(throws: ImageFileError.self, "\(what)") { try GimpPattern.decode(data, source: what) }
        }
        #expect(throws: DatasetError.self) { try Fabrics(size: 64, pattern: "no-such-texture") }
    }

    @Test("fabrics: plain and textured garments of disjoint Fashion-MNIST images, on white",
          .enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz")))
    func fabrics() throws {
        let dir = try temporaryDirectory("fabrics")
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Executables.run("atelier", ["datasets", "fabrics", "--pattern", "leopard", "--out", dir.path, "--size", "32", "--limit", "4"])
        #expect(made.status == 0, "stderr: \(made.stderr)")
        let fm = FileManager.default
        let trainA = try fm.contentsOfDirectory(atPath: dir.appendingPathComponent("trainA").path).sorted()
        let trainB = try fm.contentsOfDirectory(atPath: dir.appendingPathComponent("trainB").path).sorted()
        #expect(trainA == ["00000_9_ankle-boot.png", "00002_0_t-shirt-top.png", "00004_0_t-shirt-top.png", "00006_7_sneaker.png"])
        #expect(trainB.count == 4 && trainB[0] == "00001_0_t-shirt-top.png" && Set(trainA).isDisjoint(with: trainB))
        #expect(try fm.contentsOfDirectory(atPath: dir.appendingPathComponent("testB").path).count == 4)
        for (folder, name) in [("trainA", trainA[0]), ("trainB", trainB[0])] {
            let p = try PNG.read(dir.appendingPathComponent("\(folder)/\(name)").path)
            #expect(p.width == 32 && p.height == 32 && p.channels == 3)
            #expect(Array(p.pixels[0..<3]) == [255, 255, 255], "\(folder): the corner is white")
            // Inside the garment: one hue (A) or a texture's spread of colours (B).
            let inside = stride(from: 0, to: p.pixels.count, by: 3).filter { p.pixels[$0] < 200 || p.pixels[$0 + 1] < 200 || p.pixels[$0 + 2] < 200 }
            #expect(inside.count > 100, "\(folder): \(inside.count) garment pixels")
            let ratios = inside.map { Double(p.pixels[$0]) / Double(max(1, Int(p.pixels[$0]) + Int(p.pixels[$0 + 1]) + Int(p.pixels[$0 + 2]))) }
            let mean = ratios.reduce(0, +) / Double(ratios.count)
            let spread = (ratios.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(ratios.count)).squareRoot()
            #expect(folder == "trainA" ? spread < 0.03 : spread > 0.03, "\(folder): red share spread \(spread)")
        }
        let list = try Executables.run("atelier", ["datasets", "fabrics", "--pattern", "list"])
        #expect(list.status == 0 && list.stdout.contains("Animal/leopard") && list.stdout.contains("64x62"), "stdout: \(list.stdout)")
    }

    /// Every term of steps 0-2 and the step-0 gradient norms, PyTorch 2.13 CPU, float32.
    static let pytorch: [[String: Float]] = [
        ["D": 1.57243, "G": 18.711487, "G_A": 1.609691, "G_B": 1.233161, "cycle_A": 5.222155, "cycle_B": 5.371772, "idt_A": 2.65161, "idt_B": 2.623099, "D_A": 0.97727, "D_B": 0.59516],
        ["D": 1.465526, "G": 17.463814, "G_A": 1.319365, "G_B": 0.398456, "cycle_A": 5.230588, "cycle_B": 5.273595, "idt_A": 2.64849, "idt_B": 2.59332, "D_A": 0.806035, "D_B": 0.659491],
        ["D": 1.348329, "G": 17.946945, "G_A": 0.872859, "G_B": 1.271037, "cycle_A": 5.237244, "cycle_B": 5.288666, "idt_A": 2.641258, "idt_B": 2.635882, "D_A": 0.693575, "D_B": 0.654754],
    ]
    static let pytorchGradientNorms: [String: Float] = ["G_A": 202.293385, "G_B": 140.485091, "D_A": 31.955609, "D_B": 27.181296]

    @Test("CycleGAN: three steps match junyanz's CycleGAN in PyTorch (every term, step-0 gradient norms) on the CPU path")
    func cycleganMatchesPyTorch() throws { try matchPyTorch(on: CPUBackend()) }

    @Test("CycleGAN: the same three steps match PyTorch on PoCL", .requiresOpenCL)
    func cycleganMatchesPyTorchOnOpenCL() throws { try matchPyTorch(on: try OpenCLTestSupport.backend()) }

    func matchPyTorch(on backend: Backend) throws {
        let (size, width, blocks) = (32, 8, 2)
        var rng = RandomGenerator(seed: 7)
        let model = try CycleGANModel(config: Self.config(size: size, width: width, blocks: blocks, pool: 0), rng: &rng)
        let trainer = try Trainer(model: model, backend: backend)
        var random = RandomGenerator(seed: 8)
        let a = (0..<3).map { _ in random.uniform(3 * size * size, in: -1...1) }
        let b = (0..<3).map { _ in random.uniform(3 * size * size, in: -1...1) }
        if let folder = ProcessInfo.processInfo.environment["ATELIER_CYCLEGAN_EXPORT"], backend is CPUBackend {
            try ReferenceExport.write(model, on: backend, a: a, b: b, meta: ["size": size, "batch": 1, "ngf": width, "blocks": blocks], to: folder)
        }
        // PyTorch's own float32 runs differ by 2e-6, 3.2e-3 and 1.6e-2 over these steps (peers README).
        let bounds: [Float] = [1e-5, 1e-2, 5e-2]
        var unused = RandomGenerator(seed: 0)
        for s in 0..<3 {
            let (n, feed) = try model.feed(a: a[s], b: b[s], random: &unused)
            try trainer.step(batch: n, feed: feed)
            let stats = try trainer.statistics()
            if s == 0 {
                for network in ["G_A", "G_B", "D_A", "D_B"] {
                    let group = try trainer.group(network.hasPrefix("G") ? "G" : "D")
                    var sum = 0.0
                    for p in try model.network(network).parameters where p.trainable {
                        sum += try backend.read(try group.gradient(of: p)).reduce(0.0) { $0 + Double($1) * Double($1) }
                    }
                    let reference = try #require(Self.pytorchGradientNorms[network])
                    #expect(abs(Float(sum.squareRoot()) - reference) <= 1e-4 * reference,
                            "\(backend.name): step 0 gradient norm of \(network): ours \(sum.squareRoot()), PyTorch \(reference)")
                }
            }
            let reference = try #require(Self.pytorch.count > s ? Self.pytorch[s] : nil, "no reference for step \(s)")
            for (torchName, expected) in reference {
                let value = try #require(stats[torchName == "D" ? "Loss_D" : torchName == "G" ? "Loss_G" : torchName])
                #expect(abs(value - expected) <= bounds[s] * max(1, abs(expected)), "\(backend.name): step \(s) \(torchName): ours \(value), PyTorch \(expected)")
            }
        }
    }
}
