import ArgumentParser
import Atelier
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a GAN or a pix2pix model; writes options, log, sample sheets, losses and checkpoints to --out.",
        discussion: """
        GANs: Fashion-MNIST from /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist) unless \
        --dataroot names another folder of IDX files or a folder of PNG and JPEG pictures of any size (class \
        sub-folders give labels), resized to --image-size. \
        pix2pix: --dataroot holds pairs, as junyanz's aligned layout (train/, val/, test/ of A|B pictures side \
        by side) or folders A/ and B/ of pictures with the same names; `atelier datasets edges2fashion` makes \
        one. Defaults follow junyanz: batch 1, --epochs 100 then --epochs-decay 100 with the rate falling \
        linearly to zero, jitter (--load-size 286 for 256 px, scaled) and flips; each epoch's sheet shows \
        input | output | target for the first validation pairs. \
        Ctrl-C stops after the current step and saves a checkpoint; --continue resumes exactly.
        """
    )

    @Option(help: "gan (the reference article's MLP GAN), dcgan, cdcgan (DCGAN conditioned on the class), pix2pix (paired image-to-image translation, e.g. sketch -> garment) or cyclegan (unpaired translation both ways, e.g. plain -> leopard-print garments).")
    var model: ModelKind = .dcgan

    @Option(help: "Folder of Fashion-MNIST IDX files or of PNG/JPEG pictures (default: the Debian package's).")
    var dataroot: String?

    @Option(name: [.long, .customLong("niter")], parsing: .unconditional, help: "Epochs to train; default 5, pix2pix 100 (then --epochs-decay more). With --continue: the total to reach (default: the run's own).")
    var epochs: Int?

    @Option(name: .customLong("epochs-decay"), parsing: .unconditional, help: "pix2pix: epochs after --epochs over which the learning rate falls linearly to zero (junyanz's --n_epochs_decay; default 100).")
    var epochsDecay: Int?

    @Option(name: [.customLong("batch-size"), .customLong("batchSize")], parsing: .unconditional, help: "Images (pix2pix: pairs) per step; default 64, pix2pix 1.")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Adam learning rate of both networks.")
    var lr: Float = 2e-4

    @Option(parsing: .unconditional, help: "Adam beta1.")
    var beta1: Float = 0.5

    @Option(parsing: .unconditional, help: "Length of the noise vector.")
    var nz = 100

    @Option(name: [.long, .customLong("manualSeed")], parsing: .unconditional, help: "Seed of initialisation, noise and shuffling.")
    var seed: UInt64 = 0

    @Option(help: "auto, cpu, opencl or opencl:P:D (see `atelier devices`); reference runs the plain reference backend (slow, for checking numerics).")
    var device = "auto"

    @Option(name: [.long, .customLong("outf")], help: "Run folder (default: runs/MODEL).")
    var out: String?

    @Flag(name: .customLong("dry-run"), help: "Two steps that write every file, to check the set-up.")
    var dryRun = false

    @Option(name: .customLong("save-every"), help: "Also save the checkpoint every N steps (e.g. 500) or N minutes (e.g. 10m) within epochs, so a kill -9 or a power cut loses little (default: after each epoch only). May change with --continue.")
    var saveEvery: String?

    @Option(name: .customLong("keep-checkpoints"), help: "Also keep each epoch's checkpoint as checkpoint-epoch-NNN.safetensors: the last N, or all (default: the latest only). `atelier sample --epoch N` reads one. May change with --continue.")
    var keepCheckpoints: String?

    @Flag(name: .customLong("continue"), help: "Resume the run in --out from its checkpoint.")
    var resume = false

    @Flag(name: .customLong("keep-last-batch"), help: "Also train on each epoch's last, smaller batch.")
    var keepLastBatch = false

    @Flag(help: "Profile ten steps after a short warm-up: time, launches, GFLOP/s or GB/s and share of the step per op (OpenCL: event profiling), and the step's achieved GFLOP/s against the device's peak. Written to the terminal and the log.")
    var profile = false

    @Option(name: .customLong("limit-images"), parsing: .unconditional, help: "Use only the first N images (quick trials).")
    var limitImages: Int?

    @Option(name: [.customLong("image-size"), .customLong("crop-size"), .customLong("imageSize")], parsing: .unconditional, help: "Image side the model is built for: 28 (default), 32, 64, 128 or 256 for dcgan and cdcgan; 28, 32 or 64 for gan; 32 to 512 for pix2pix (default: the pictures' size; --crop-size as junyanz). Pictures are resized to it.")
    var imageSize: Int?

    @Option(name: .customLong("load-size"), parsing: .unconditional, help: "Store pictures at this side (shorter side resized, centre square), then crop --image-size from them (default: --image-size).")
    var loadSize: Int?

    @Flag(name: .customLong("random-crop"), help: "Crop each picture at a random place of its --load-size square instead of the centre (jitter).")
    var randomCrop = false

    @Flag(help: "Mirror pictures left-right at random.")
    var flip = false

    @Option(parsing: .unconditional, help: "Image channels: 1 (gray) or 3 (RGB); default: RGB when any picture of --dataroot is in colour.")
    var channels: Int?

    @Flag(name: .customLong("skip-bad-images"), help: "Leave out pictures that cannot be read (each is named in the log) instead of stopping.")
    var skipBadImages = false

    @Option(name: .customLong("gan-mode"), help: "The adversarial loss: vanilla (binary cross-entropy), lsgan (least squares) or hinge; default vanilla, cyclegan lsgan.")
    var ganMode: GANLoss?

    @Option(name: .customLong("lr-policy"), help: "Learning-rate schedule: constant, linear (constant, then linear to zero over the last --lr-decay-epochs) or step (x --lr-gamma every --lr-step-epochs).")
    var lrPolicy = "constant"

    @Option(name: .customLong("lr-decay-epochs"), parsing: .unconditional, help: "With --lr-policy linear: the epochs at the end over which the rate falls to zero (default: half of --epochs).")
    var lrDecayEpochs: Int?

    @Option(name: .customLong("lr-step-epochs"), parsing: .unconditional, help: "With --lr-policy step: epochs between steps (default: half of --epochs).")
    var lrStepEpochs: Int?

    @Option(name: .customLong("lr-gamma"), parsing: .unconditional, help: "With --lr-policy step: the factor per step.")
    var lrGamma: Float = 0.1

    @Option(parsing: .unconditional, help: "Width of the generator (its last hidden layer; pytorch/examples' --ngf).")
    var ngf = 64

    @Option(parsing: .unconditional, help: "Width of the discriminator (its first layer; pytorch/examples' --ndf).")
    var ndf = 64

    @Option(help: "pix2pix: AtoB (the left or A/ pictures are the input) or BtoA.")
    var direction: TranslationSettings.Direction = .AtoB

    @Option(help: "pix2pix and cyclegan: the networks' normalisation, batch or instance (default batch, cyclegan instance).")
    var norm: TranslationSettings.Norm?

    @Option(name: .customLong("lambda-l1"), parsing: .unconditional, help: "pix2pix: weight of the L1 distance to the target in G's loss.")
    var lambdaL1: Float = 100

    @Option(parsing: .unconditional, help: "pix2pix: dropout of the generator's innermost decoder levels, also kept on when translating (0: none).")
    var dropout: Float = 0.5

    @Option(help: "pix2pix: resize_and_crop (to --load-size, then a random --image-size crop), resize (to --image-size), or none (pictures must already be --image-size).")
    var preprocess = "resize_and_crop"

    @Flag(name: .customLong("no-flip"), help: "pix2pix and cyclegan: no random left-right mirroring.")
    var noFlip = false

    @Option(name: .customLong("lambda-a"), parsing: .unconditional, help: "cyclegan: weight of the cycle A -> B -> A.")
    var lambdaA: Float = 10

    @Option(name: .customLong("lambda-b"), parsing: .unconditional, help: "cyclegan: weight of the cycle B -> A -> B.")
    var lambdaB: Float = 10

    @Option(name: .customLong("lambda-identity"), parsing: .unconditional, help: "cyclegan: weight of the identity terms relative to the cycle ones (0: none).")
    var lambdaIdentity: Float = 0.5

    @Option(name: .customLong("pool-size"), parsing: .unconditional, help: "cyclegan: generated pictures each discriminator's history holds (0: none).")
    var poolSize = 50

    @Option(name: .customLong("residual-blocks"), parsing: .unconditional, help: "cyclegan: residual blocks of the generators (default 9 from 256 px, else 6).")
    var residualBlocks: Int?

    @Flag(name: .customLong("serial-batches"), help: "cyclegan: take B pictures in order instead of at random.")
    var serialBatches = false

    @Option(name: .customLong("label-smoothing"), parsing: .unconditional, help: "gan, dcgan, cdcgan: one-sided label smoothing, D's target for real pictures 1 - S (e.g. 0.1; default 0).")
    var labelSmoothing: Float?

    @Option(name: .customLong("instance-noise"), parsing: .unconditional, help: "gan, dcgan, cdcgan: Gaussian noise of this deviation added to every picture D sees, falling linearly to 0 over the run (e.g. 0.1; default 0).")
    var instanceNoise: Float?

    @Option(name: .customLong("lr-d"), parsing: .unconditional, help: "gan, dcgan, cdcgan: D's own learning rate (two time-scale update rule); default --lr.")
    var lrD: Float?

    @Flag(name: .customLong("minibatch-std"), help: "gan, and dcgan and cdcgan at 28 px: D also sees the minibatch standard deviation of its features, so a batch of near-copies gives itself away.")
    var minibatchStd = false

    @Flag(name: .customLong("spectral-norm"), help: "gan, dcgan, cdcgan: divide each of D's convolution and dense weights by its largest singular value (one power iteration per step), so D cannot sharpen without bound.")
    var spectralNorm = false

    @Option(name: .customLong("class-loss"), parsing: .unconditional, help: "cdcgan: D names the class of each picture instead of being told it (an auxiliary classifier, AC-GAN), and G is trained to draw what D names as the class asked for; this is the weight of that class loss (e.g. 1; default off).")
    var classLoss: Float?

    @Flag(help: "gan, and dcgan and cdcgan at 28 px: train with the remedies that keep the reference article's GAN from collapsing, --minibatch-std and --spectral-norm (docs/quality.md has the trials).")
    var stable = false

    @Option(name: .customLong("eval-every"), parsing: .unconditional, help: "gan, dcgan, cdcgan: every N epochs, score the generator as `atelier eval` does (Fréchet distance, KID, class coverage, confidence) into the log, metrics.csv and metrics.png, and keep the best checkpoint by Fréchet distance as best.safetensors. May change with --continue.")
    var evalEvery: Int?

    @Option(name: .customLong("eval-count"), parsing: .unconditional, help: "Samples each --eval-every score draws.")
    var evalCount = 10_000

    @Option(name: .customLong("init-from"), help: ArgumentHelp("Start from these weights instead of random ones: a file `atelier export` wrote, or a PyTorch state_dict saved with safetensors (see docs/weights.md). NETWORK=PATH loads one network (e.g. discriminator=netD.safetensors, G_A=latest_net_G_A.safetensors); repeat for more.", valueName: "[NETWORK=]PATH"))
    var initFrom: [String] = []

    var translation: Bool { model.isTranslation }

    func validate() throws {
        let most = TrainingOptions.maximumEpochs / 2
        if let epochs { guard (1...most).contains(epochs) else { throw ValidationError("--epochs must lie in 1...\(most)") } }
        if let batchSize { guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") } }
        if let epochsDecay {
            guard translation else { throw ValidationError("--epochs-decay applies to pix2pix; GANs take --lr-policy linear --lr-decay-epochs N") }
            guard (0...most).contains(epochsDecay) else { throw ValidationError("--epochs-decay must lie in 0...\(most)") }
        }
        if translation {
            guard ["resize_and_crop", "resize", "none"].contains(preprocess) else {
                throw ValidationError("--preprocess takes resize_and_crop, resize or none")
            }
            guard (0..<1).contains(dropout) else { throw ValidationError("--dropout must lie in [0, 1), e.g. 0.5") }
            guard lambdaL1 >= 0, lambdaL1.isFinite else { throw ValidationError("--lambda-l1 must be zero or positive, e.g. 100") }
            if lrPolicy != "constant" { throw ValidationError("\(model)'s schedule is --epochs constant then --epochs-decay linear; --lr-policy does not apply") }
            if randomCrop || flip { throw ValidationError("\(model) jitters by --preprocess resize_and_crop and flips unless --no-flip; --random-crop and --flip do not apply") }
            guard [lambdaA, lambdaB, lambdaIdentity].allSatisfy({ $0 >= 0 && $0.isFinite }) else {
                throw ValidationError("--lambda-a, --lambda-b and --lambda-identity must be zero or positive")
            }
            guard (0...10_000).contains(poolSize) else { throw ValidationError("--pool-size must lie in 0...10000 (junyanz uses 50)") }
            if let residualBlocks, !(0...64).contains(residualBlocks) { throw ValidationError("--residual-blocks must lie in 0...64") }
        }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number, e.g. 2e-4") }
        guard (0..<1).contains(beta1) else { throw ValidationError("--beta1 must lie in [0, 1), e.g. 0.5") }
        guard (1...10_000).contains(nz) else { throw ValidationError("--nz must lie in 1...10000 (pytorch/examples use 100)") }
        if let limitImages, limitImages < 1 { throw ValidationError("--limit-images must be at least 1") }
        if let imageSize, !ModelConfig.supportedSizes(model).contains(imageSize) {
            throw ValidationError("--image-size \(imageSize): \(model) is built for \(ModelConfig.supportedSizes(model).map(String.init).joined(separator: ", ")) pixels")
        }
        if let loadSize, loadSize < (imageSize ?? (translation ? 32 : 28)) || loadSize > 8192 {
            throw ValidationError("--load-size must lie between --image-size (\(imageSize ?? 28)) and 8192")
        }
        if let channels, channels != 1 && channels != 3 { throw ValidationError("--channels takes 1 (gray) or 3 (RGB)") }
        guard (1...1024).contains(ngf), (1...1024).contains(ndf) else { throw ValidationError("--ngf and --ndf must lie in 1...1024") }
        if dryRun && resume { throw ValidationError("--dry-run starts a new run; it cannot be combined with --continue") }
        if (stable || labelSmoothing != nil || instanceNoise != nil || lrD != nil || minibatchStd || spectralNorm) && translation {
            throw ValidationError("--stable, --label-smoothing, --instance-noise, --lr-d, --minibatch-std and --spectral-norm apply to gan, dcgan and cdcgan")
        }
        if let classLoss {
            guard model == .cdcgan else { throw ValidationError("--class-loss trains D to name each picture's class; only cdcgan has classes") }
            guard classLoss.isFinite, classLoss > 0, classLoss <= 100 else { throw ValidationError("--class-loss takes a weight in (0, 100], e.g. 1") }
        }
        if let evalEvery {
            guard !translation else { throw ValidationError("--eval-every scores gan, dcgan and cdcgan; \(model) is measured by `atelier eval --real` on its outputs") }
            guard (1...TrainingOptions.maximumEpochs).contains(evalEvery) else { throw ValidationError("--eval-every must be at least 1 (epochs)") }
        }
        guard (2...100_000).contains(evalCount) else { throw ValidationError("--eval-count must lie in 2...100000") }
        if !initFrom.isEmpty && resume {
            throw ValidationError("--init-from starts a new run from given weights; --continue resumes from the run's own checkpoint")
        }
        if let keepCheckpoints, KeptCheckpoints(parsing: keepCheckpoints) == nil {
            throw ValidationError("--keep-checkpoints takes a count (e.g. 5) or all, got '\(keepCheckpoints)'")
        }
        if let saveEvery, SaveInterval(parsing: saveEvery) == nil {
            throw ValidationError("--save-every takes steps (e.g. 500) or minutes (e.g. 10m), got '\(saveEvery)'")
        }
    }

    /// The run's options from the command line, with model-dependent defaults.
    func makeOptions() -> TrainingOptions {
        var options = TrainingOptions()
        options.model = model
        options.dataroot = dataroot
        // pix2pix as junyanz: --epochs at the full rate, then --epochs-decay falling to zero.
        let decay = translation ? epochsDecay ?? 100 : 0
        options.epochs = (epochs ?? (translation ? 100 : 5)) + decay
        options.batchSize = batchSize ?? (translation ? 1 : 64)
        options.learningRate = lr
        options.beta1 = beta1
        options.nz = nz
        options.seed = seed
        options.device = device
        options.out = out ?? "runs/\(model)"
        // Resumed without --epochs, a run goes on to the total it was started with.
        if resume && epochs == nil && epochsDecay == nil,
           let data = try? Data(contentsOf: RunFiles(options.out).options),
           let saved = try? JSONDecoder().decode(TrainingOptions.self, from: data) {
            options.epochs = saved.epochs
        }
        options.dryRun = dryRun
        options.saveEvery = saveEvery.flatMap(SaveInterval.init(parsing:))
        options.keepCheckpoints = keepCheckpoints.flatMap(KeptCheckpoints.init(parsing:))
        options.keepLastBatch = keepLastBatch
        options.limitImages = limitImages
        options.imageSize = imageSize
        options.loadSize = loadSize
        options.randomCrop = randomCrop
        options.flip = flip
        options.channels = channels
        options.skipBadImages = skipBadImages
        options.ngf = ngf
        options.ndf = ndf
        options.ganMode = ganMode ?? (model == .cyclegan ? .lsgan : .vanilla)
        options.lrPolicy = lrPolicy
        options.lrDecayEpochs = lrDecayEpochs
        options.lrStepEpochs = lrStepEpochs
        options.lrGamma = lrGamma
        if translation && decay > 0 {
            options.lrPolicy = "linear"
            options.lrDecayEpochs = decay
        }
        options.direction = direction
        options.norm = norm ?? (model == .cyclegan ? .instance : .batch)
        options.lambdaA = lambdaA
        options.lambdaB = lambdaB
        options.lambdaIdentity = lambdaIdentity
        options.poolSize = poolSize
        options.residualBlocks = residualBlocks
        options.serialBatches = serialBatches
        options.lambdaL1 = lambdaL1
        options.dropout = dropout
        options.preprocess = preprocess
        options.noFlip = noFlip
        options.initFrom = initFrom.isEmpty ? nil : initFrom
        options.stable = stable
        let preset = stable ? TrainingOptions.stablePreset : TrainingOptions()
        options.labelSmoothing = labelSmoothing ?? preset.labelSmoothing
        options.instanceNoise = instanceNoise ?? preset.instanceNoise
        options.learningRateD = lrD ?? preset.learningRateD
        options.minibatchStd = minibatchStd || preset.minibatchStd
        options.spectralNorm = spectralNorm || preset.spectralNorm
        options.classLoss = classLoss ?? 0
        options.evalEvery = evalEvery
        options.evalCount = evalCount
        return options
    }

    func run() throws {
        let options = makeOptions()
        if resume { try checkResume(options) }
        if !resume { do { _ = try options.schedule() } catch { throw CommandError("\(error)") } }

        let backend = try DeviceChoice(parsing: device).makeBackend(profiling: profile)
        let deviceName = backend.name
        backend.onCompile { file in Terminal.status("compiling \(file) for \(deviceName) (first run only)...") }
        let run = try TrainingRun(options: options, resume: resume, backend: backend) { Terminal.line($0) }
        run.profile = profile
        Interrupt.install()
        let outcome = try run.run(onStep: { p in
            if Terminal.isTerminal {
                Terminal.status(ProgressLine.text(p, width: ProgressLine.terminalWidth()))
            } else if p.stepInEpoch == 1 || p.stepInEpoch % 50 == 0 || p.stepInEpoch == p.stepsPerEpoch {
                Terminal.line(ProgressLine.text(p))
            }
        }, shouldStop: { Interrupt.requested })
        switch outcome {
        case .finished:
            Terminal.line("done: \(translation ? "validation" : "sample") sheets in \(run.files.samples.path), checkpoint \(run.files.checkpoint.path)")
        case .interrupted:
            throw ExitCode(Interrupt.exitStatus)
        }
    }
}



extension TrainCommand {
    /// What --continue may change: how far the run goes and where it runs.
    /// Everything else a resumed run takes from its options.json, so that it
    /// reproduces the uninterrupted run.
    static let changeableOnResume: Set<String> = ["epochs", "device", "out", "dryRun", "saveEvery", "keepCheckpoints", "evalEvery", "evalCount"]

    /// Refuses, by name, options given with --continue that differ from the
    /// run's (they were once ignored without a word), and a run whose
    /// options.json is gone (it once resumed on the defaults).
    func checkResume(_ passed: TrainingOptions) throws {
        let files = RunFiles(passed.out)
        guard FileManager.default.fileExists(atPath: files.checkpoint.path) else { return }  // TrainingRun says so
        guard let data = try? Data(contentsOf: files.options) else {
            throw CommandError("--continue: \(files.options.path) is missing; it records the run's data, batch size, seed and the rest, without which the run cannot go on as it started: put it back, or start a new run with another --out")
        }
        guard let saved = try? JSONDecoder().decode(TrainingOptions.self, from: data) else {
            throw CommandError("--continue: \(files.options.path) is unreadable; put back the run's own, or start a new run with another --out")
        }
        let defaults = try TrainCommand.parse(["--model", model.rawValue]).makeOptions()
        func fields(_ o: TrainingOptions) throws -> [String: String] {
            let object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(o)) as? [String: Any] ?? [:]
            return object.mapValues { "\($0)" }
        }
        let (given, run, plain) = (try fields(passed), try fields(saved), try fields(defaults))
        var differing: [String] = []
        for key in Set(given.keys).union(run.keys).sorted() where !Self.changeableOnResume.contains(key) {
            let (value, theirs) = (given[key] ?? "none", run[key] ?? "none")
            if value != theirs && value != (plain[key] ?? "none") {
                differing.append("\(Self.flag(key)) \(value) (the run's: \(theirs))")
            }
        }
        guard differing.isEmpty else {
            throw CommandError("--continue keeps the run's options so that it reproduces the uninterrupted run, and these differ from the run's: \(differing.joined(separator: ", ")). Only --epochs, --device, --save-every, --keep-checkpoints, --eval-every and --eval-count may change on resume; to train with other options, start a new run with another --out")
        }
    }

    /// The command-line option of an options.json key.
    static func flag(_ key: String) -> String {
        if key == "learningRate" { return "--lr" }
        return "--" + key.reduce(into: "") { text, c in text += c.isUppercase ? "-" + c.lowercased() : String(c) }
    }
}

/// Ctrl-C (SIGINT), or SIGTERM (what `kill`, systemd, Slurm and CI send),
/// asks the training loop to stop after the current step and save a
/// checkpoint; a second signal quits at once. The exit status is the
/// shell's for the signal (130, 143).
enum Interrupt {
    nonisolated(unsafe) static var requested = false
    nonisolated(unsafe) static var exitStatus: Int32 = 130
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func install() {
        for (number, name) in [(SIGINT, "Ctrl-C"), (SIGTERM, "SIGTERM")] {
            signal(number, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: number, queue: .global())
            s.setEventHandler {
                if requested { exit(128 + number) }
                requested = true
                exitStatus = 128 + number
                Terminal.line("\(name): stopping after this step and saving a checkpoint (\(name == "Ctrl-C" ? "Ctrl-C" : "send it") again to quit at once)")
            }
            s.resume()
            sources.append(s)
        }
    }
}

/// Progress rewritten in place on a terminal; plain lines otherwise.
enum Terminal {
    static let isTerminal = isatty(STDOUT_FILENO) != 0

    static func status(_ text: String) {
        if isTerminal {
            FileHandle.standardOutput.write(Data("\r\u{1B}[K\(text)".utf8))
        } else {
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        }
    }

    static func line(_ text: String) {
        let clear = isTerminal ? "\r\u{1B}[K" : ""
        FileHandle.standardOutput.write(Data((clear + text + "\n").utf8))
    }

}
