import Foundation
import Testing
@testable import Atelier
@testable import AtelierModels
@testable import AtelierTraining

/// pix2pix from the command line on a tiny edges2fashion: the dataset
/// maker, training with every file a run writes, exact resume, `transfer`,
/// and the errors of bad pairs and wrong checkpoints.
@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz"),
                             "needs dataset-fashion-mnist (Tools/scripts/install-deps.sh installs it)"))
struct Pix2PixRunTests {
    /// edges2fashion at 32 px, the first `limit` pictures of each split.
    func makeSet(_ dir: URL, limit: Int = 12) throws -> URL {
        let set = dir.appendingPathComponent("edges2fashion")
        let made = try Executables.run("atelier", ["datasets", "edges2fashion", "--out", set.path, "--size", "32", "--limit", "\(limit)"])
        #expect(made.status == 0, "stderr: \(made.stderr)")
        return set
    }

    func options(dataroot: URL, out: URL, epochs: Int) -> TrainingOptions {
        var o = TrainingOptions()
        o.model = .pix2pix
        o.dataroot = dataroot.path
        o.out = out.path
        o.epochs = epochs
        o.batchSize = 4
        o.ngf = 4
        o.ndf = 4
        o.device = "cpu"
        o.lrPolicy = "linear"
        o.lrDecayEpochs = 1
        return o
    }

    @Test("atelier datasets edges2fashion writes outline | garment pairs with the class in the name, and its recipe")
    func datasetMaker() throws {
        let dir = try temporaryDirectory("e2f-maker")
        defer { try? FileManager.default.removeItem(at: dir) }
        let set = try makeSet(dir, limit: 5)
        let fm = FileManager.default
        let train = try fm.contentsOfDirectory(atPath: set.appendingPathComponent("train").path).sorted()
        let test = try fm.contentsOfDirectory(atPath: set.appendingPathComponent("test").path).sorted()
        // Fashion-MNIST's first training labels are 9, 0, 0, 3, 0; the first test ones 9, 2, 1, 1, 6.
        #expect(train == ["00000_9_ankle-boot.png", "00001_0_t-shirt-top.png", "00002_0_t-shirt-top.png", "00003_3_dress.png", "00004_0_t-shirt-top.png"])
        #expect(test.count == 5 && test[0] == "0000_9_ankle-boot.png" && test[1] == "0001_2_pullover.png")
        let source = try FashionMNIST.load(train: true)
        for (i, name) in train.enumerated() {
            let pair = try PNG.read(set.appendingPathComponent("train/\(name)").path)
            #expect(pair.width == 64 && pair.height == 32 && pair.channels == 1)
            let a = try PictureFit.half(of: pair, right: false), b = try PictureFit.half(of: pair, right: true)
            // A: black lines on white, enough of them to outline a garment but far from filled.
            #expect(Set(a.pixels).isSubset(of: [0, 255]))
            let ink = a.pixels.filter { $0 == 0 }.count
            #expect((40...400).contains(ink), "\(name): \(ink) outline pixels")
            // B: the garment enlarged; its mean brightness is the source's.
            let meanB = Double(b.pixels.reduce(0) { $0 + Int($1) }) / Double(b.pixels.count)
            let meanSource = Double(source.images[i * 784..<(i + 1) * 784].reduce(0) { $0 + Int($1) }) / 784
            #expect(abs(meanB - meanSource) < 3, "\(name): garment mean \(meanB) vs source \(meanSource)")
        }
        let recipe = try JSONSerialization.jsonObject(with: Data(contentsOf: set.appendingPathComponent("recipe.json"))) as? [String: Any]
        #expect(recipe?["size"] as? Int == 32 && (recipe?["edges"] as? [String: Any])?["sigma"] != nil)
        let bad = try Executables.run("atelier", ["datasets", "edges2fashion", "--out", dir.appendingPathComponent("x").path, "--size", "48"])
        #expect(bad.status != 0 && bad.stderr.contains("32, 64, 128, 256"), "stderr: \(bad.stderr)")
    }

    @Test("Canny outlines a bright square with one closed contour and nothing inside or outside")
    func edgeDetector() {
        let size = 32
        var picture = [Float](repeating: 0, count: size * size)
        for y in 8..<24 { for x in 8..<24 { picture[y * size + x] = 200 } }
        let edges = EdgeDetector(sigma: 1).edges(picture, width: size, height: size)
        for y in 0..<size {
            for x in 0..<size where edges[y * size + x] {
                let ring = min(abs(x - 8), abs(x - 23), abs(y - 8), abs(y - 23))
                #expect(ring <= 1 && (6...25).contains(x) && (6...25).contains(y), "edge at \(x),\(y) is off the square's border")
            }
        }
        // Every side is traced.
        let sides: [(x: Int, y: Int)] = [(16, 8), (16, 23), (8, 16), (23, 16)]
        for side in sides {
            let near = (-1...1).map { d in side.y == 16 ? (side.x + d, side.y) : (side.x, side.y + d) }
            #expect(near.contains { edges[$0.1 * size + $0.0] }, "no edge near \(side)")
        }
        #expect(!EdgeDetector(sigma: 1).edges([Float](repeating: 7, count: 100), width: 10, height: 10).contains(true))
    }

    @Test("train --model pix2pix writes options, log, sheets, losses of every term, curves and checkpoints; transfer translates a folder")
    func trainAndTransfer() throws {
        let dir = try temporaryDirectory("pix2pix-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let set = try makeSet(dir)
        let run = RunFiles(dir.appendingPathComponent("run").path)
        let result = try Executables.run("atelier", ["train", "--model", "pix2pix", "--dataroot", set.path, "--out", run.directory.path,
                                                     "--epochs", "1", "--epochs-decay", "1", "--batch-size", "4", "--ngf", "4", "--ndf", "4",
                                                     "--device", "cpu"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("pix2pix 32x32x1") && result.stdout.contains("12 pairs"), "stdout: \(result.stdout)")
        for url in [run.options, run.log, run.losses, run.lossCurve, run.checkpoint, run.sampleSheet(epoch: 1), run.sampleSheet(epoch: 2)] {
            #expect(FileManager.default.fileExists(atPath: url.path), "\(url.lastPathComponent) was not written")
        }
        let csv = try String(contentsOf: run.losses, encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "step,epoch,loss_d,loss_g,d_fake,d_real,g_gan,g_l1" && csv.count == 7, "losses.csv: \(csv)")
        // Two rows of two triplets (input | output | target) of 32 px, zoomed twice.
        let sheet = try PNG.read(run.sampleSheet(epoch: 2).path)
        #expect(sheet.width == (6 * 34 + 2) * 2 && sheet.height == (4 * 34 + 2) * 2, "sheet \(sheet.width)x\(sheet.height)")
        let (state, tensors) = try Checkpoint.read(run.checkpoint.path)
        #expect(state.model.kind == .pix2pix && state.model.imageSize == 32 && state.model.translation?.direction == .AtoB)
        #expect(state.groups.map(\.spec.schedule) == [.linearDecay(decayEpochs: 1, totalEpochs: 2), .linearDecay(decayEpochs: 1, totalEpochs: 2)])
        #expect(tensors["G.model.model.0.weight"]?.shape == [4, 1, 4, 4])
        let log = try String(contentsOf: run.log, encoding: .utf8)
        #expect(log.contains("validation sheets: input | output | target of the first 8 pairs of \(set.path)/test"), "log: \(log)")

        // Resumed without --epochs, the run keeps its own total (2), not the default 100 + 100.
        let again = try Executables.run("atelier", ["train", "--model", "pix2pix", "--continue", "--out", run.directory.path, "--device", "cpu"])
        #expect(again.status == 0 && again.stdout.contains("already has 2 epochs"), "stdout: \(again.stdout) stderr: \(again.stderr)")

        // transfer: a folder of side-by-side pairs, a single picture of another size, and a sheet.
        let translated = dir.appendingPathComponent("translated")
        let sheetPath = dir.appendingPathComponent("sheet.png").path
        let t = try Executables.run("atelier", ["transfer", "--checkpoint", run.checkpoint.path, "--in", set.appendingPathComponent("test").path,
                                                "--aligned", "--out", translated.path, "--sheet", sheetPath, "--device", "cpu"])
        #expect(t.status == 0 && t.stdout.contains("translated 12 pictures"), "stdout: \(t.stdout) stderr: \(t.stderr)")
        let outputs = try FileManager.default.contentsOfDirectory(atPath: translated.path)
        #expect(outputs.count == 12 && outputs.contains("0000_9_ankle-boot.png"))
        let one = try PNG.read(translated.appendingPathComponent("0000_9_ankle-boot.png").path)
        #expect(one.width == 32 && one.height == 32 && one.channels == 1)
        #expect(try PNG.read(sheetPath).width == (8 * 34 + 2) * 2)
        let wide = dir.appendingPathComponent("wide.png").path
        try PNG.write(PixelImage(width: 50, height: 20, channels: 3, pixels: [UInt8](repeating: 200, count: 50 * 20 * 3)), to: wide)
        for fit in ["resize", "pad"] {
            let single = dir.appendingPathComponent("single-\(fit).jpg").path
            let r = try Executables.run("atelier", ["transfer", "--checkpoint", run.checkpoint.path, "--in", wide, "--out", single, "--fit", fit, "--device", "cpu"])
            #expect(r.status == 0, "stderr: \(r.stderr)")
            let picture = try ImageFile.read(single)
            #expect(picture.width == 50 && picture.height == 20, "--fit \(fit): \(picture.width)x\(picture.height)")
        }

        // Checkpoints of the other kind, and the wrong direction, are refused by name.
        let reversed = try Executables.run("atelier", ["transfer", "--checkpoint", run.checkpoint.path, "--in", wide, "--out", dir.appendingPathComponent("r.png").path,
                                                       "--direction", "BtoA", "--device", "cpu"])
        #expect(reversed.status != 0 && reversed.stderr.contains("trained AtoB"), "stderr: \(reversed.stderr)")
        let sample = try Executables.run("atelier", ["sample", "--checkpoint", run.checkpoint.path, "--out", dir.appendingPathComponent("s.png").path])
        #expect(sample.status != 0 && sample.stderr.contains("atelier transfer"), "stderr: \(sample.stderr)")
        let gan = dir.appendingPathComponent("gan")
        let dry = try Executables.run("atelier", ["train", "--model", "dcgan", "--dry-run", "--limit-images", "64", "--device", "cpu", "--out", gan.path])
        #expect(dry.status == 0, "stderr: \(dry.stderr)")
        let wrong = try Executables.run("atelier", ["transfer", "--checkpoint", RunFiles(gan.path).checkpoint.path, "--in", wide,
                                                    "--out", dir.appendingPathComponent("w.png").path, "--device", "cpu"])
        #expect(wrong.status != 0 && wrong.stderr.contains("holds a dcgan model") && wrong.stderr.contains("atelier sample"), "stderr: \(wrong.stderr)")
    }

    @Test("pix2pix --continue reproduces the uninterrupted run (jitter, flips and dropout included), from mid-epoch")
    func exactResume() throws {
        let dir = try temporaryDirectory("pix2pix-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let set = try makeSet(dir)
        let (whole, split) = (dir.appendingPathComponent("whole"), dir.appendingPathComponent("split"))
        let cpu = CPUBackend()
        _ = try TrainingRun(options: options(dataroot: set, out: whole, epochs: 2), resume: false, backend: cpu) { _ in }
            .run(onStep: { _ in }, shouldStop: { false })
        var steps = 0
        let first = try TrainingRun(options: options(dataroot: set, out: split, epochs: 2), resume: false, backend: cpu) { _ in }
        #expect(try first.run(onStep: { _ in steps += 1 }, shouldStop: { steps >= 4 }) == .interrupted(epoch: 2, step: 1))
        _ = try TrainingRun(options: options(dataroot: set, out: split, epochs: 2), resume: true, backend: cpu) { _ in }
            .run(onStep: { _ in }, shouldStop: { false })
        let a = try String(contentsOf: RunFiles(whole.path).losses, encoding: .utf8)
        let b = try String(contentsOf: RunFiles(split.path).losses, encoding: .utf8)
        #expect(a.split(separator: "\n").count == 7 && a == b, "resumed run differs:\n\(a)\nvs\n\(b)")
        let (sa, ta) = try Checkpoint.read(RunFiles(whole.path).checkpoint.path)
        let (sb, tb) = try Checkpoint.read(RunFiles(split.path).checkpoint.path)
        #expect(sa == sb)
        for name in ["G.model.model.0.weight", "D.model.11.weight", "G.model.model.1.model.2.running_mean"] {
            #expect(ta[name]?.values == tb[name]?.values, "\(name) differs")
        }
        // The epoch's sheets are the same pictures.
        #expect(try PNG.read(RunFiles(whole.path).sampleSheet(epoch: 2).path) == PNG.read(RunFiles(split.path).sampleSheet(epoch: 2).path))
    }

    @Test("Bad pairs: an odd-width aligned picture, a folder without train/, unmatched A/B names, wrong sizes under --preprocess none")
    func badPairs() throws {
        let dir = try temporaryDirectory("pix2pix-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        func picture(_ w: Int, _ h: Int) -> PixelImage { PixelImage(width: w, height: h, channels: 1, pixels: [UInt8](repeating: 128, count: w * h)) }
        func train(_ root: URL, _ extra: [String] = []) throws -> ProcessResult {
            try Executables.run("atelier", ["train", "--model", "pix2pix", "--dataroot", root.path, "--out", dir.appendingPathComponent("run-\(root.lastPathComponent)").path,
                                            "--ngf", "4", "--ndf", "4", "--epochs", "1", "--epochs-decay", "0", "--device", "cpu"] + extra)
        }
        let odd = dir.appendingPathComponent("odd")
        try fm.createDirectory(at: odd.appendingPathComponent("train"), withIntermediateDirectories: true)
        try PNG.write(picture(64, 32), to: odd.appendingPathComponent("train/good.png").path)
        let oddPath = odd.appendingPathComponent("train/odd.png").path
        try PNG.write(picture(65, 32), to: oddPath)
        var r = try train(odd)
        #expect(r.status != 0 && r.stderr.contains(oddPath) && r.stderr.contains("even"), "stderr: \(r.stderr)")
        r = try train(odd, ["--skip-bad-images", "--image-size", "32"])
        #expect(r.status == 0 && r.stdout.contains("1 pairs"), "stdout: \(r.stdout) stderr: \(r.stderr)")

        let empty = dir.appendingPathComponent("empty")
        try fm.createDirectory(at: empty.appendingPathComponent("pictures"), withIntermediateDirectories: true)
        r = try train(empty)
        #expect(r.status != 0 && r.stderr.contains("no train/ folder") && r.stderr.contains("edges2fashion"), "stderr: \(r.stderr)")
        r = try Executables.run("atelier", ["train", "--model", "pix2pix", "--out", dir.appendingPathComponent("none").path, "--device", "cpu"])
        #expect(r.status != 0 && r.stderr.contains("--dataroot"), "stderr: \(r.stderr)")

        let parallel = dir.appendingPathComponent("parallel")
        for side in ["A", "B"] { try fm.createDirectory(at: parallel.appendingPathComponent(side), withIntermediateDirectories: true) }
        for name in ["1", "2"] {
            try PNG.write(picture(32, 32), to: parallel.appendingPathComponent("A/\(name).png").path)
            try PNG.write(picture(40, 40), to: parallel.appendingPathComponent("B/\(name).png").path)
        }
        try PNG.write(picture(32, 32), to: parallel.appendingPathComponent("A/lonely.png").path)
        r = try train(parallel, ["--image-size", "32"])
        #expect(r.status != 0 && r.stderr.contains("lonely.png") && r.stderr.contains("same name"), "stderr: \(r.stderr)")
        r = try train(parallel, ["--image-size", "32", "--preprocess", "none", "--skip-bad-images", "--batch-size", "1"])
        #expect(r.status != 0 && r.stderr.contains("40x40") && r.stderr.contains("--preprocess none"), "stderr: \(r.stderr)")
        r = try train(parallel, ["--image-size", "32", "--skip-bad-images", "--batch-size", "1", "--direction", "BtoA"])
        #expect(r.status == 0 && r.stdout.contains("2 pairs"), "stdout: \(r.stdout) stderr: \(r.stderr)")
    }

    @Test("Paired batches crop and flip input and target alike; BtoA swaps the halves")
    func pairedBatches() throws {
        let dir = try temporaryDirectory("pairs")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("train"), withIntermediateDirectories: true)
        // A: a horizontal ramp; B: the same ramp, inverted.
        var pixels = [UInt8](repeating: 0, count: 16 * 8)
        for y in 0..<8 { for x in 0..<8 { pixels[y * 16 + x] = UInt8(x * 30); pixels[y * 16 + 8 + x] = UInt8(255 - x * 30) } }
        try PNG.write(PixelImage(width: 16, height: 8, channels: 1, pixels: pixels), to: dir.appendingPathComponent("train/p.png").path)
        let pairs = try PairedFolder.load(dir.path, split: "train", reversed: false, loadSize: 8, exact: true)
        var random = RandomGenerator(seed: 1)
        for _ in 0..<8 {
            let (a, b) = pairs.batch([0], size: 6, randomCrop: true, flip: true, random: &random)
            for i in a.indices { #expect(abs(a[i] + b[i] - (255 / 127.5 - 2)) < 1e-5, "input and target moved apart") }
        }
        let reversed = try PairedFolder.load(dir.path, split: "train", reversed: true, loadSize: 8, exact: true)
        var r2 = RandomGenerator(seed: 1)
        let (ra, _) = reversed.batch([0], size: 8, randomCrop: false, flip: false, random: &r2)
        #expect(ra[0] == 1 && ra[7] < ra[0], "BtoA: the input is the right half")
    }
}
