import Foundation
import Testing
@testable import Atelier
@testable import AtelierModels
@testable import AtelierTraining

/// CycleGAN from the command line on a tiny fabrics set: training with every
/// file a run writes, transfer both ways, and exact resume with the image
/// pools full and swapping.
@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz"),
                             "needs dataset-fashion-mnist (Tools/scripts/install-deps.sh installs it)"))
struct CycleGANRunTests {
    func makeSet(_ dir: URL) throws -> URL {
        let set = dir.appendingPathComponent("fabrics")
        let made = try Executables.run("atelier", ["datasets", "fabrics", "--pattern", "leopard", "--out", set.path, "--size", "32", "--limit", "6"])
        #expect(made.status == 0, "stderr: \(made.stderr)")
        return set
    }

    @Test("train --model cyclegan writes sheets, every term's losses and checkpoints; transfer translates both ways")
    func trainAndTransfer() throws {
        let dir = try temporaryDirectory("cyclegan-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let set = try makeSet(dir)
        let run = RunFiles(dir.appendingPathComponent("run").path)
        let result = try Executables.run("atelier", ["train", "--model", "cyclegan", "--dataroot", set.path, "--out", run.directory.path,
                                                     "--epochs", "1", "--epochs-decay", "1", "--batch-size", "2", "--ngf", "4", "--ndf", "4",
                                                     "--residual-blocks", "1", "--device", "cpu"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("cyclegan 32x32x3") && result.stdout.contains("6 images"), "stdout: \(result.stdout)")
        for url in [run.options, run.log, run.losses, run.lossCurve, run.checkpoint, run.sampleSheet(epoch: 2)] {
            #expect(FileManager.default.fileExists(atPath: url.path), "\(url.lastPathComponent) was not written")
        }
        let csv = try String(contentsOf: run.losses, encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "step,epoch,loss_g,loss_d,g_a,g_b,cycle_a,cycle_b,idt_a,idt_b,d_a,d_b" && csv.count == 7, "losses.csv: \(csv)")
        // Four rows of real A | fake B | rec A | real B | fake A | rec B at 32 px, zoomed twice.
        let sheet = try PNG.read(run.sampleSheet(epoch: 2).path)
        #expect(sheet.width == (6 * 34 + 2) * 2 && sheet.height == (4 * 34 + 2) * 2 && sheet.channels == 3, "sheet \(sheet.width)x\(sheet.height)")
        let (state, tensors) = try Checkpoint.read(run.checkpoint.path)
        #expect(state.model.kind == .cyclegan && state.model.ganMode == .lsgan && state.model.translation?.norm == .instance)
        #expect(tensors["pool_B.images"]?.shape == [50, 3, 32, 32] && tensors["state.pool_B.count"]?.values == [12], "12 pictures went through the pool")
        let plain = try FileManager.default.contentsOfDirectory(atPath: set.appendingPathComponent("testA").path).sorted()[0]
        for direction in ["AtoB", "BtoA"] {
            let out = dir.appendingPathComponent("\(direction).png").path
            let t = try Executables.run("atelier", ["transfer", "--checkpoint", run.checkpoint.path, "--in", set.appendingPathComponent("testA/\(plain)").path,
                                                    "--out", out, "--direction", direction, "--device", "cpu"])
            #expect(t.status == 0, "stderr: \(t.stderr)")
            let picture = try PNG.read(out)
            #expect(picture.width == 32 && picture.channels == 3)
        }
    }

    @Test("cyclegan --continue reproduces the uninterrupted run, pools, their swaps and the decaying rate included, from mid-epoch")
    func exactResume() throws {
        let dir = try temporaryDirectory("cyclegan-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let set = try makeSet(dir)
        func options(_ out: URL) -> TrainingOptions {
            var o = TrainingOptions()
            o.model = .cyclegan
            o.dataroot = set.path
            o.out = out.path
            o.epochs = 2
            o.batchSize = 2
            o.ngf = 4
            o.ndf = 4
            o.residualBlocks = 1
            o.poolSize = 3
            o.norm = .instance
            o.ganMode = .lsgan
            o.lrPolicy = "linear"
            o.lrDecayEpochs = 1
            o.device = "cpu"
            return o
        }
        let (whole, split) = (dir.appendingPathComponent("whole"), dir.appendingPathComponent("split"))
        let cpu = CPUBackend()
        _ = try TrainingRun(options: options(whole), resume: false, backend: cpu) { _ in }.run(onStep: { _ in }, shouldStop: { false })
        var steps = 0
        let first = try TrainingRun(options: options(split), resume: false, backend: cpu) { _ in }
        #expect(try first.run(onStep: { _ in steps += 1 }, shouldStop: { steps >= 4 }) == .interrupted(epoch: 2, step: 1))
        _ = try TrainingRun(options: options(split), resume: true, backend: cpu) { _ in }.run(onStep: { _ in }, shouldStop: { false })
        let a = try String(contentsOf: RunFiles(whole.path).losses, encoding: .utf8)
        let b = try String(contentsOf: RunFiles(split.path).losses, encoding: .utf8)
        #expect(a.split(separator: "\n").count == 7 && a == b, "resumed run differs:\n\(a)\nvs\n\(b)")
        let (_, ta) = try Checkpoint.read(RunFiles(whole.path).checkpoint.path)
        let (_, tb) = try Checkpoint.read(RunFiles(split.path).checkpoint.path)
        for name in ["G_A.model.1.weight", "D_B.model.11.weight", "pool_A.images", "pool_B.images", "state.pool_A.count"] {
            #expect(ta[name] != nil && ta[name]?.values == tb[name]?.values, "\(name) differs")
        }
        #expect(ta["state.pool_B.count"]?.values == [3], "the pool filled and then swapped")
        let (state, _) = try Checkpoint.read(RunFiles(split.path).checkpoint.path)
        #expect(state.groups.allSatisfy { $0.spec.schedule == .linearDecay(decayEpochs: 1, totalEpochs: 2) && $0.adamStep == 6 })
    }

    @Test("Bad input: an empty trainB, a folder without trainA/, a pix2pix checkpoint resumed or used as a CycleGAN one")
    func badInput() throws {
        let dir = try temporaryDirectory("cyclegan-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let set = try makeSet(dir)
        let emptyB = dir.appendingPathComponent("emptyB")
        try FileManager.default.createDirectory(at: emptyB.appendingPathComponent("trainB"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: set.appendingPathComponent("trainA"), to: emptyB.appendingPathComponent("trainA"))
        func train(_ root: URL, _ extra: [String] = []) throws -> ProcessResult {
            try Executables.run("atelier", ["train", "--model", "cyclegan", "--dataroot", root.path, "--out", dir.appendingPathComponent("run-\(root.lastPathComponent)").path,
                                            "--ngf", "4", "--ndf", "4", "--residual-blocks", "1", "--epochs", "1", "--epochs-decay", "0", "--device", "cpu"] + extra)
        }
        var r = try train(emptyB)
        #expect(r.status != 0 && r.stderr.contains("trainB") && r.stderr.contains("no pictures"), "stderr: \(r.stderr)")
        r = try train(dir)
        #expect(r.status != 0 && r.stderr.contains("no trainA/ folder") && r.stderr.contains("atelier datasets fabrics"), "stderr: \(r.stderr)")

        // A pix2pix run on side-by-side pairs of the same pictures.
        let pairs = dir.appendingPathComponent("pairs")
        try FileManager.default.createDirectory(at: pairs.appendingPathComponent("train"), withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: set.appendingPathComponent("trainA").path) {
            let p = try PNG.read(set.appendingPathComponent("trainA/\(name)").path)
            var pixels: [UInt8] = []
            for y in 0..<p.height { let row = p.pixels[(y * p.width * 3)..<((y + 1) * p.width * 3)]; pixels += row; pixels += row }
            try PNG.write(PixelImage(width: 2 * p.width, height: p.height, channels: 3, pixels: pixels), to: pairs.appendingPathComponent("train/\(name)").path)
        }
        let pix2pix = dir.appendingPathComponent("pix2pix")
        r = try Executables.run("atelier", ["train", "--model", "pix2pix", "--dataroot", pairs.path, "--out", pix2pix.path, "--ngf", "4", "--ndf", "4",
                                            "--epochs", "1", "--epochs-decay", "0", "--batch-size", "2", "--device", "cpu"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        r = try Executables.run("atelier", ["train", "--model", "cyclegan", "--continue", "--out", pix2pix.path, "--device", "cpu"])
        #expect(r.status != 0 && r.stderr.contains("holds a pix2pix model") && r.stderr.contains("--model pix2pix"), "stderr: \(r.stderr)")
        let checkpoint = RunFiles(pix2pix.path).checkpoint.path
        r = try Executables.run("atelier", ["transfer", "--checkpoint", checkpoint, "--in", set.appendingPathComponent("testB").path,
                                            "--out", dir.appendingPathComponent("t").path, "--direction", "BtoA", "--device", "cpu"])
        #expect(r.status != 0 && r.stderr.contains("pix2pix model trained AtoB"), "stderr: \(r.stderr)")
    }
}
