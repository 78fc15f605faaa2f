import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

/// The options of `atelier train`, saved as options.json in the run folder.
/// Checkpoints within an epoch as well as after it: every N steps or every
/// N minutes (`--save-every 500`, `--save-every 10m`), so that a `kill -9`
/// or a power cut loses little. They do not change what the run computes.
public enum SaveInterval: Codable, Sendable, Equatable {
    case steps(Int)
    case minutes(Double)

    /// "500" (steps) or "10m" (minutes); nil for anything else or not positive.
    public init?(parsing text: String) {
        if text.hasSuffix("m"), let minutes = Double(text.dropLast()), minutes > 0, minutes.isFinite {
            self = .minutes(minutes)
        } else if let steps = Int(text), steps > 0 {
            self = .steps(steps)
        } else {
            return nil
        }
    }
}

/// Which per-epoch checkpoints a run keeps beside the latest
/// (`checkpoint-epoch-NNN.safetensors`): the last N, or all.
public enum KeptCheckpoints: Codable, Sendable, Equatable {
    case last(Int)
    case all

    /// "all" or a positive count; nil otherwise.
    public init?(parsing text: String) {
        if text == "all" { self = .all } else if let n = Int(text), n >= 1 { self = .last(n) } else { return nil }
    }
}

/// Every option of a run; `atelier train`'s flags fill it, a library caller sets
/// it directly. Saved as options.json, which `--continue` resumes from.
public struct TrainingOptions: Codable, Sendable, Equatable {
    /// The most epochs a run holds (step counts and schedules stay far from overflowing).
    public static let maximumEpochs = 1_000_000
    /// The model to train.
    public var model: ModelKind = .dcgan
    /// nil: Fashion-MNIST from /usr/share/datasets/fashion-mnist.
    public var dataroot: String?
    /// Epochs to train (the total to reach when resuming).
    public var epochs = 5
    /// Images (pix2pix: pairs) per step.
    public var batchSize = 64
    /// Adam's learning rate, of every network.
    public var learningRate: Float = 2e-4
    /// Adam's beta1.
    public var beta1: Float = 0.5
    /// The length of the GANs' noise vector.
    public var nz = 100
    /// Seed of initialisation, noise, shuffling and augmentation.
    public var seed: UInt64 = 0
    /// `auto`, `cpu`, `opencl`, `opencl:P:D` or `reference` (see DeviceChoice).
    public var device = "auto"
    /// The run folder.
    public var out = "runs/dcgan"
    /// One short epoch (two steps) that writes every file, to check a setup.
    public var dryRun = false
    /// Checkpoints within epochs too (nil: after each epoch only).
    public var saveEvery: SaveInterval?
    /// Per-epoch checkpoints kept beside the latest (nil: the latest only).
    public var keepCheckpoints: KeptCheckpoints?
    /// Train on the last, smaller batch of each epoch too (it gets a plan of
    /// its own) instead of dropping it.
    public var keepLastBatch = false
    /// Use only the first N images (quick trials).
    public var limitImages: Int?
    /// The side of the images the model is built for (pytorch/examples'
    /// --imageSize); nil: 28, Fashion-MNIST's.
    public var imageSize: Int?
    /// Pictures are stored at this side (shorter side resized, centre
    /// square) and cropped to imageSize per sample; nil: imageSize.
    public var loadSize: Int?
    /// 1 or 3; nil: RGB when any picture of the folder is in colour.
    public var channels: Int?
    /// Random crops of loadSize pictures instead of the centre one.
    public var randomCrop = false
    /// Random left-right mirroring.
    public var flip = false
    /// Leave out pictures that cannot be read (listed in the log) instead of stopping.
    public var skipBadImages = false
    /// Widths of the networks (pytorch/examples' --ngf, --ndf).
    public var ngf = 64
    /// The discriminator's width.
    public var ndf = 64
    /// The adversarial loss.
    public var ganMode = GANLoss.vanilla
    /// constant, linear (to zero over the last lrDecayEpochs) or step
    /// (x lrGamma every lrStepEpochs).
    public var lrPolicy = "constant"
    /// With `lrPolicy` linear: the last epochs, over which the rate falls to zero.
    public var lrDecayEpochs: Int?
    /// With `lrPolicy` step: epochs between steps.
    public var lrStepEpochs: Int?
    /// With `lrPolicy` step: the factor per step.
    public var lrGamma: Float = 0.1
    /// pix2pix: which half of a pair is the input.
    public var direction = TranslationSettings.Direction.AtoB
    /// pix2pix: the networks' normalisation.
    public var norm = TranslationSettings.Norm.batch
    /// pix2pix: weight of the L1 term.
    public var lambdaL1: Float = 100
    /// pix2pix: dropout of the innermost decoder levels (0: none).
    public var dropout: Float = 0.5
    /// pix2pix's jitter (junyanz's --preprocess): "resize_and_crop" (to
    /// the load size, then a random crop), "resize" (to the image size) or
    /// "none" (pictures must have the image size).
    public var preprocess = "resize_and_crop"
    /// pix2pix and CycleGAN: no random mirroring (junyanz's --no_flip).
    public var noFlip = false
    /// CycleGAN: cycle weights, identity weight, pool size, residual blocks
    /// (nil: 9 from 256 px, else 6), and B pictures in order instead of at random.
    public var lambdaA: Float = 10
    /// CycleGAN: weight of the cycle B -> A -> B.
    public var lambdaB: Float = 10
    /// CycleGAN: weight of the identity terms relative to the cycle terms.
    public var lambdaIdentity: Float = 0.5
    /// CycleGAN: generated pictures each discriminator's history holds (0: none).
    public var poolSize = 50
    /// CycleGAN: the generators' residual blocks (nil: 9 from 256 px, else 6).
    public var residualBlocks: Int?
    /// CycleGAN: B pictures in order instead of at random.
    public var serialBatches = false
    /// GANs: one-sided label smoothing, instance noise (annealed to 0) and
    /// D's own learning rate (nil: --lr); `stable` records that --stable chose them.
    public var labelSmoothing: Float = 0
    public var instanceNoise: Float = 0
    public var learningRateD: Float?
    /// GANs: D sees the minibatch standard deviation (an architecture change, kept in the checkpoint).
    public var minibatchStd = false
    /// GANs: D's convolutions and dense layers are spectrally normalised (kept in the checkpoint).
    public var spectralNorm = false
    /// cdcgan: the auxiliary class loss's weight (0: off; an architecture change, kept in the checkpoint).
    public var classLoss: Float = 0
    public var stable = false
    /// Score the generator every N epochs as `atelier eval` does (nil: never).
    public var evalEvery: Int?
    /// Samples each of those scores draws.
    public var evalCount = 10_000
    /// Weights to start from instead of the random initialisation, each
    /// "PATH" or "NETWORK=PATH" (see WeightsFile); nil: none.
    public var initFrom: [String]?

    /// The defaults of `atelier train --model dcgan`.
    public init() {}

    /// pix2pix's preprocessing at `size`: load at `loadSize` (default
    /// junyanz's 286 for 256, scaled), random crops and flips.
    public func pairPreprocessing(size: Int) -> ImagePreprocessing {
        let jitter = preprocess == "resize_and_crop"
        let load = jitter ? loadSize ?? Int((Double(size) * 286 / 256).rounded()) : size
        return ImagePreprocessing(size: size, loadSize: load, randomCrop: jitter, flip: !noFlip)
    }

    /// The learning-rate schedule these options describe.
    public func schedule() throws -> LearningRateSchedule {
        switch lrPolicy {
        case "constant":
            return .constant
        case "linear":
            let decay = lrDecayEpochs ?? max(1, epochs / 2)
            guard (1...epochs).contains(decay) else {
                throw DatasetError("--lr-decay-epochs \(decay) must lie in 1...\(epochs) (the run's --epochs)")
            }
            return .linearDecay(decayEpochs: decay, totalEpochs: epochs)
        case "step":
            let every = lrStepEpochs ?? max(1, epochs / 2)
            guard every >= 1 else { throw DatasetError("--lr-step-epochs must be at least 1") }
            guard lrGamma > 0, lrGamma.isFinite else { throw DatasetError("--lr-gamma must be a positive number, e.g. 0.1") }
            return .step(everyEpochs: every, gamma: lrGamma)
        default:
            throw DatasetError("--lr-policy \(lrPolicy): choose constant, linear or step")
        }
    }

    /// The image side the model is built for (28 unless set).
    public var effectiveImageSize: Int { imageSize ?? 28 }

    /// How the GANs' pictures are sized, cropped and flipped.
    public var preprocessing: ImagePreprocessing {
        ImagePreprocessing(size: effectiveImageSize, loadSize: loadSize, channels: channels, randomCrop: randomCrop, flip: flip)
    }

    private enum CodingKeys: String, CodingKey {
        case model, dataroot, epochs, batchSize, learningRate, beta1, nz, seed, device, out, dryRun, keepLastBatch, limitImages
        case imageSize, loadSize, channels, randomCrop, flip, skipBadImages, ngf, ndf
        case ganMode, lrPolicy, lrDecayEpochs, lrStepEpochs, lrGamma
        case direction, norm, lambdaL1, dropout, preprocess, noFlip
        case lambdaA, lambdaB, lambdaIdentity, poolSize, residualBlocks, serialBatches, saveEvery, keepCheckpoints, initFrom, evalEvery, evalCount
        case labelSmoothing, instanceNoise, learningRateD, stable, minibatchStd, spectralNorm, classLoss
    }

    /// Options files of older runs lack the newer keys: those keep their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
        self.init()
        model = try value(.model, model)
        dataroot = try c.decodeIfPresent(String.self, forKey: .dataroot)
        epochs = try value(.epochs, epochs)
        batchSize = try value(.batchSize, batchSize)
        learningRate = try value(.learningRate, learningRate)
        beta1 = try value(.beta1, beta1)
        nz = try value(.nz, nz)
        seed = try value(.seed, seed)
        device = try value(.device, device)
        out = try value(.out, out)
        dryRun = try value(.dryRun, dryRun)
        keepLastBatch = try value(.keepLastBatch, keepLastBatch)
        limitImages = try c.decodeIfPresent(Int.self, forKey: .limitImages)
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize)
        loadSize = try c.decodeIfPresent(Int.self, forKey: .loadSize)
        channels = try c.decodeIfPresent(Int.self, forKey: .channels)
        randomCrop = try value(.randomCrop, randomCrop)
        flip = try value(.flip, flip)
        skipBadImages = try value(.skipBadImages, skipBadImages)
        ngf = try value(.ngf, ngf)
        ndf = try value(.ndf, ndf)
        ganMode = try value(.ganMode, ganMode)
        lrPolicy = try value(.lrPolicy, lrPolicy)
        lrDecayEpochs = try c.decodeIfPresent(Int.self, forKey: .lrDecayEpochs)
        lrStepEpochs = try c.decodeIfPresent(Int.self, forKey: .lrStepEpochs)
        lrGamma = try value(.lrGamma, lrGamma)
        direction = try value(.direction, direction)
        norm = try value(.norm, norm)
        lambdaL1 = try value(.lambdaL1, lambdaL1)
        dropout = try value(.dropout, dropout)
        preprocess = try value(.preprocess, preprocess)
        noFlip = try value(.noFlip, noFlip)
        lambdaA = try value(.lambdaA, lambdaA)
        lambdaB = try value(.lambdaB, lambdaB)
        lambdaIdentity = try value(.lambdaIdentity, lambdaIdentity)
        poolSize = try value(.poolSize, poolSize)
        residualBlocks = try c.decodeIfPresent(Int.self, forKey: .residualBlocks)
        serialBatches = try value(.serialBatches, serialBatches)
        saveEvery = try c.decodeIfPresent(SaveInterval.self, forKey: .saveEvery)
        keepCheckpoints = try c.decodeIfPresent(KeptCheckpoints.self, forKey: .keepCheckpoints)
        initFrom = try c.decodeIfPresent([String].self, forKey: .initFrom)
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery)
        evalCount = try value(.evalCount, evalCount)
        labelSmoothing = try value(.labelSmoothing, labelSmoothing)
        instanceNoise = try value(.instanceNoise, instanceNoise)
        learningRateD = try c.decodeIfPresent(Float.self, forKey: .learningRateD)
        stable = try value(.stable, stable)
        minibatchStd = try value(.minibatchStd, minibatchStd)
        spectralNorm = try value(.spectralNorm, spectralNorm)
        classLoss = try value(.classLoss, classLoss)
    }

    /// What `--stable` sets (unless given explicitly): the remedies that
    /// trained the reference article's GAN best in docs/quality.md's trials,
    /// the minibatch deviation and spectral normalisation in D. Label
    /// smoothing, instance noise and a slower D did worse there, so it
    /// leaves them off.
    public static var stablePreset: TrainingOptions {
        var o = TrainingOptions()
        o.minibatchStd = true
        o.spectralNorm = true
        return o
    }

    /// The GAN remedies these options ask for.
    public var remedies: GANRemedies {
        GANRemedies(labelSmoothing: labelSmoothing, instanceNoise: instanceNoise, discriminatorLearningRate: learningRateD)
    }
}

/// The files of a run folder.
public struct RunFiles: Sendable {
    /// The run folder.
    public let directory: URL
    /// The resolved options (`options.json`).
    public var options: URL { directory.appendingPathComponent("options.json") }
    /// Everything the run printed (`log.txt`).
    public var log: URL { directory.appendingPathComponent("log.txt") }
    /// Every step's statistics (`losses.csv`).
    public var losses: URL { directory.appendingPathComponent("losses.csv") }
    /// The loss chart (`loss.png`), redrawn after each epoch.
    public var lossCurve: URL { directory.appendingPathComponent("loss.png") }
    /// The scores of `--eval-every` (`metrics.csv`) and their chart (`metrics.png`).
    public var metrics: URL { directory.appendingPathComponent("metrics.csv") }
    public var metricsChart: URL { directory.appendingPathComponent("metrics.png") }
    /// The checkpoint with the lowest Fréchet distance so far (`best.safetensors`, with `--eval-every`).
    public var best: URL { directory.appendingPathComponent("best.safetensors") }
    /// The latest checkpoint (`checkpoint.safetensors`).
    public var checkpoint: URL { directory.appendingPathComponent("checkpoint.safetensors") }
    /// A checkpoint kept after epoch `epoch` (--keep-checkpoints).
    public func epochCheckpoint(_ epoch: Int) -> URL {
        directory.appendingPathComponent(String(format: "checkpoint-epoch-%03d.safetensors", epoch))
    }
    /// The epochs whose checkpoints are kept, in order.
    public func keptEpochs() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("checkpoint-epoch-"), name.hasSuffix(".safetensors") else { return nil }
            return Int(name.dropFirst("checkpoint-epoch-".count).dropLast(".safetensors".count))
        }.sorted()
    }
    /// The folder of the epochs' sample sheets.
    public var samples: URL { directory.appendingPathComponent("samples") }
    /// The sample sheet of `epoch` (`samples/epoch-NNN.png`).
    public func sampleSheet(epoch: Int) -> URL {
        samples.appendingPathComponent(String(format: "epoch-%03d.png", epoch))
    }
    /// The files of the run folder at `path`.
    public init(_ path: String) { directory = URL(fileURLWithPath: path) }
}

/// Training, from options to a run folder: progress, logs, sample sheets,
/// losses, checkpoints, exact resume.
public final class TrainingRun {
    /// Where a run stands after a step, for a progress line.
    public struct Progress: Sendable {
        /// The epoch under way, from 1.
        public var epoch: Int          // 1-based
        /// Epochs the run trains.
        public var epochs: Int
        /// Steps done in this epoch, from 1.
        public var stepInEpoch: Int    // 1-based
        /// Steps in an epoch.
        public var stepsPerEpoch: Int
        /// Steps done in all.
        public var step: Int
        /// Training samples a second, over the steps timed so far.
        public var samplesPerSecond: Double
        /// The time left at that pace.
        public var secondsLeft: Double
        /// The step's losses and scores.
        public var statistics: StepStatistics
    }

    /// How `run` ended.
    public enum Outcome: Sendable, Equatable {
        case finished
        case interrupted(epoch: Int, step: Int)
    }

    /// The options the run uses (a resumed run's own, with the epochs and device given).
    public let options: TrainingOptions
    /// The run folder's files.
    public let files: RunFiles
    /// The trainer, with the model's parameters and optimizer state on the device.
    public let trainer: Trainer
    /// The model, its data and its sheets.
    let task: RunTask
    /// The model being trained.
    public var model: TrainingModel { task.model }
    /// The model's architecture.
    public var config: ModelConfig { task.config }
    /// A GAN's sampler (BatchNorm in eval mode), for its sample sheets.
    public var sampler: GANSampler? { (task as? GANTask)?.sampler }
    /// Training samples per epoch.
    public var count: Int { task.count }
    public private(set) var state: TrainingState
    private let log: (String) -> Void
    /// Every step's statistics so far (this run's and, resumed, the earlier ones).
    private var history: [[Float]] = []
    /// What each step reports, in losses.csv's column order.
    private let statistics: [(name: String, kind: StepStatistics.Kind)]

    /// Loads the data, builds (or restores, with `resume`) the model and
    /// prepares the run folder. `log` receives each line also written to
    /// log.txt.
    public init(options: TrainingOptions, resume: Bool, backend: Backend, log: @escaping (String) -> Void) throws {
        guard !options.out.isEmpty else { throw DatasetError("--out is empty; name the folder for the run, e.g. --out runs/\(options.model)") }
        self.files = RunFiles(options.out)
        let fm = FileManager.default
        var options = options
        var restoredTensors: [String: Safetensors.Entry]?
        var restoredState: TrainingState?
        if resume {
            guard fm.fileExists(atPath: files.checkpoint.path) else {
                throw CheckpointError("--continue: \(files.checkpoint.path) does not exist; start the run without --continue")
            }
            let (state, tensors) = try Checkpoint.read(files.checkpoint.path)
            if state.model.kind != options.model {
                throw CheckpointError("--continue: \(files.checkpoint.path) holds a \(state.model.kind) model, not \(options.model); pass --model \(state.model.kind)")
            }
            // The run's options decide everything but the number of epochs and the device.
            guard let saved = try? JSONDecoder().decode(TrainingOptions.self, from: Data(contentsOf: files.options)) else {
                throw CheckpointError("--continue: \(files.options.path) is missing or unreadable; it records the run's data, batch size, seed and the rest, without which the run cannot go on as it started")
            }
            let (epochs, device, saveEvery, keep) = (options.epochs, options.device, options.saveEvery, options.keepCheckpoints)
            let (evalEvery, evalCount) = (options.evalEvery, options.evalCount)
            options = saved
            options.epochs = epochs
            options.device = device
            options.saveEvery = saveEvery
            options.keepCheckpoints = keep
            // The scores do not change what the run computes.
            options.evalEvery = evalEvery
            options.evalCount = evalCount
            options.dryRun = false
            restoredTensors = tensors
            restoredState = state
        } else if fm.fileExists(atPath: files.checkpoint.path) {
            throw CheckpointError("\(files.directory.path) already holds a run; resume it with --continue or choose another --out")
        }
        // Before any data is loaded: a run that cannot write its files should not start.
        try Self.checkWritable(files.directory)
        guard options.epochs >= 1, options.batchSize >= 1 else {
            throw DatasetError("--epochs and --batch-size must be at least 1")
        }
        guard options.epochs <= TrainingOptions.maximumEpochs else {
            throw DatasetError("--epochs \(options.epochs): a run holds at most \(TrainingOptions.maximumEpochs) epochs")
        }

        var rng = RandomGenerator(seed: options.seed)
        let restoredModel = restoredState?.model
        switch options.model {
        case .pix2pix: task = try Pix2PixTask(options: options, restored: restoredModel, backend: backend, rng: &rng, log: log)
        case .cyclegan: task = try CycleGANTask(options: options, restored: restoredModel, backend: backend, rng: &rng, log: log)
        case .gan, .dcgan, .cdcgan: task = try GANTask(options: options, restored: restoredModel, backend: backend, rng: &rng, log: log)
        }
        guard task.count >= 1 else {
            throw DatasetError("\(task.source) has no \(options.model == .pix2pix ? "pairs" : "images") to train on")
        }
        guard task.count >= options.batchSize || options.keepLastBatch else {
            throw DatasetError("\(task.source) has \(task.count) \(options.model == .pix2pix ? "pairs" : "images"), fewer than one batch of \(options.batchSize); lower --batch-size or pass --keep-last-batch")
        }
        // With --keep-last-batch a batch larger than the data is the data, once an epoch.
        var notes: [String] = []
        if options.batchSize > task.count && restoredState == nil {
            notes.append("note: --batch-size \(options.batchSize) is more than the \(task.count) \(options.model == .pix2pix ? "pairs" : "images"); each epoch is one batch of \(task.count)")
            options.batchSize = task.count
        }
        self.options = options
        self.log = log
        let config = task.config
        // A resumed run keeps the checkpoint's schedule (Checkpoint.restore sets it).
        task.configure(optimizer: OptimizerSettings(learningRate: options.learningRate, beta1: options.beta1),
                       schedule: restoredState == nil ? try options.schedule() : .constant)
        trainer = try Trainer(model: task.model, backend: backend)
        trainer.randomSeed = restoredState?.seed ?? options.seed
        statistics = try trainer.statisticNames(batch: options.batchSize)

        if let restoredState, let restoredTensors {
            try Checkpoint.restore(trainer, state: restoredState, from: restoredTensors, path: files.checkpoint.path)
            state = restoredState
            history = try Self.readLosses(files.losses, upTo: restoredState.step, columns: statistics.map { StepStatistics.column($0.name) })
        } else {
            state = TrainingState(model: config, groups: [], seed: options.seed, batchSize: options.batchSize,
                                  dropLast: !options.keepLastBatch, epoch: 0, stepInEpoch: 0, step: 0,
                                  epochStartRandom: rng, random: rng)
            state.update(from: trainer)
            for source in options.initFrom ?? [] { notes += try Self.initialise(trainer.model, config: config, from: source, on: backend) }
        }
        try fm.createDirectory(at: files.samples, withIntermediateDirectories: true)
        let leftovers = Self.removeLeftovers(files)
        if !leftovers.isEmpty {
            notes.append("removed \(leftovers.count) temporary file\(leftovers.count == 1 ? "" : "s") a stopped run left: \(leftovers.joined(separator: ", "))")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(options).write(to: files.options, options: .atomic)
        try Self.rewriteLosses(files.losses, header: lossHeader, keeping: history.count)
        for note in notes + task.notes { write(note) }
        for spec in trainer.groupSpecs {
            if case .linearDecay(_, let total) = spec.schedule, options.epochs > total {
                write("note: \(spec.name)'s learning rate decays to zero over the run's first \(total) epochs (the checkpoint's schedule); epochs past \(total) leave it at zero")
            }
        }
        write("\(resume ? "resuming" : "starting") \(config.kind) \(config.imageSize)x\(config.imageSize)x\(config.imageChannels) on \(backend.name): \(task.count) \(config.kind == .pix2pix ? "pairs" : "images") from \(task.source), batch \(state.batchSize), \(options.dryRun ? "dry run of 2 steps" : "epochs \(options.epochs)")\(resume ? ", at epoch \(state.epoch + 1) step \(state.stepInEpoch + 1)" : "")")
    }

    /// Steps in an epoch: the data over the batch size (the last, smaller batch too with `keepLastBatch`).
    public var stepsPerEpoch: Int {
        task.count / state.batchSize + (state.dropLast || task.count % state.batchSize == 0 ? 0 : 1)
    }

    private func write(_ line: String) {
        log(line)
        let stamped = ISO8601DateFormatter().string(from: Date()) + " " + line + "\n"
        if let handle = try? FileHandle(forWritingTo: files.log) {
            handle.seekToEndOfFile()
            handle.write(Data(stamped.utf8))
            try? handle.close()
        } else {
            try? Data(stamped.utf8).write(to: files.log)
        }
    }

    /// Profile ten steps after a short warm-up and write the report to the
    /// log (`atelier train --profile`; see ProfileSession).
    public var profile = false

    /// Trains until `options.epochs` are done or `shouldStop` says so (then a
    /// checkpoint of the current step is saved first).
    public func run(onStep: (Progress) -> Void, shouldStop: () -> Bool) throws -> Outcome {
        let session = profile ? ProfileSession() : nil
        defer {
            if let report = try? session?.finish(trainer) { write(report) }
        }
        let epochs = options.dryRun ? 1 : options.epochs
        let stepLimit = options.dryRun ? min(2, stepsPerEpoch) : stepsPerEpoch
        var clock = DispatchTime.now().uptimeNanoseconds
        var timedSteps = 0
        var elapsed = 0.0
        if state.epoch >= epochs {
            write("the run already has \(state.epoch) epochs; pass a larger --epochs to train further")
            return .finished
        }
        let csv = try FileHandle(forWritingTo: files.losses)
        csv.seekToEndOfFile()
        defer { try? csv.close() }
        var lastSave = DispatchTime.now().uptimeNanoseconds
        var divergence = DivergenceWatch()
        let quality = try (task as? GANTask).map {
            try RunQuality(task: $0, files: files, options: options, resumedEpoch: state.epoch, backend: trainer.backend, log: write)
        }

        while state.epoch < epochs {
            if state.stepInEpoch == 0 { state.epochStartRandom = state.random }
            var permutationSource = state.epochStartRandom
            let order = permutationSource.permutation(task.count)
            if state.stepInEpoch == 0 { state.random = permutationSource }

            while state.stepInEpoch < stepLimit {
                let start = state.stepInEpoch * state.batchSize
                let indices = order[start..<min(start + state.batchSize, task.count)]
                (task as? GANTask)?.progress = Float(state.epoch * stepLimit + state.stepInEpoch) / Float(max(1, epochs * stepLimit))
                let (batch, feed) = try task.feed(indices, random: &state.random)
                let prepared = DispatchTime.now().uptimeNanoseconds
                session?.beforeStep(trainer)
                trainer.epoch = state.epoch
                try trainer.step(batch: batch, feed: feed)
                let enqueued = DispatchTime.now().uptimeNanoseconds
                let stats = try trainer.statistics()
                let waited = DispatchTime.now().uptimeNanoseconds
                if let bad = zip(stats.names, stats.values).first(where: { !$0.1.isFinite }) {
                    let saved = FileManager.default.fileExists(atPath: files.checkpoint.path)
                        ? "the last checkpoint, \(files.checkpoint.path), is intact" : "no checkpoint was written yet"
                    throw DatasetError("\(bad.0) became \(bad.1) at step \(state.step + 1): training diverged (\(saved)); lower --lr or check the data")
                }
                state.stepInEpoch += 1
                state.step += 1
                state.update(from: trainer)
                history.append(stats.values)
                if let warning = divergence.observe(stats) { write(warning) }
                quality?.observe(stats)
                try appendLosses(csv, ("\(state.step),\(state.epoch + 1)," + stats.values.map { "\($0)" }.joined(separator: ",") + "\n"))

                let now = DispatchTime.now().uptimeNanoseconds
                elapsed += Double(now - clock) / 1e9
                let phases = HostPhases(prepare: Double(prepared - clock) / 1e9, enqueue: Double(enqueued - prepared) / 1e9,
                                        wait: Double(waited - enqueued) / 1e9)
                if let report = try session?.afterStep(trainer, seconds: Double(now - clock) / 1e9, phases: phases) { write(report) }
                clock = now
                timedSteps += 1
                let perStep = elapsed / Double(timedSteps)
                let left = Double((epochs - state.epoch - 1) * stepLimit + (stepLimit - state.stepInEpoch))
                onStep(Progress(epoch: state.epoch + 1, epochs: epochs, stepInEpoch: state.stepInEpoch, stepsPerEpoch: stepLimit,
                                step: state.step, samplesPerSecond: Double(indices.count) / max(perStep, 1e-9),
                                secondsLeft: perStep * left, statistics: stats))
                if let every = options.saveEvery, state.stepInEpoch < stepLimit, !options.dryRun {
                    let due: Bool
                    switch every {
                    case .steps(let n): due = state.step % n == 0
                    case .minutes(let m): due = Double(now - lastSave) / 6e10 >= m
                    }
                    if due {
                        try Checkpoint.save(trainer, state: state, to: files.checkpoint.path)
                        lastSave = DispatchTime.now().uptimeNanoseconds
                    }
                }
                if shouldStop() && state.stepInEpoch < stepLimit {
                    try Checkpoint.save(trainer, state: state, to: files.checkpoint.path)
                    write("interrupted at epoch \(state.epoch + 1) step \(state.stepInEpoch); checkpoint saved to \(files.checkpoint.path); resume with --continue")
                    return .interrupted(epoch: state.epoch + 1, step: state.stepInEpoch)
                }
            }
            state.epoch += 1
            state.stepInEpoch = 0
            try writeSampleSheet(epoch: state.epoch)
            let curves = statistics.indices.filter { statistics[$0].kind != .score }
            try writeLossChart(curves: curves, epochs: epochs, stepsPerEpoch: stepLimit)
            try Checkpoint.save(trainer, state: state, to: files.checkpoint.path)
            try keepEpochCheckpoint()
            let last = history.last.map { values in
                curves.map { String(format: "%@ %.4f", statistics[$0].name, values[$0]) }.joined(separator: " ")
            } ?? ""
            let scores = try quality.map { "; " + (try $0.afterEpoch(state.epoch, step: state.step, sheetSeed: state.seed)) } ?? ""
            write("epoch \(state.epoch)/\(epochs) done: \(last)\(scores); samples in \(files.sampleSheet(epoch: state.epoch).path)")
            if shouldStop() && state.epoch < epochs {
                write("stopped after epoch \(state.epoch); resume with --continue")
                return .interrupted(epoch: state.epoch, step: 0)
            }
        }
        return .finished
    }

    /// With --keep-checkpoints, the epoch's checkpoint under its own name
    /// too (a second link to the same file: the next save replaces the
    /// latest's name only), and the oldest beyond the count removed.
    private func keepEpochCheckpoint() throws {
        guard let keep = options.keepCheckpoints, !options.dryRun else { return }
        let kept = files.epochCheckpoint(state.epoch)
        try? FileManager.default.removeItem(at: kept)
        if link(files.checkpoint.path, kept.path) != 0 {
            do { try FileManager.default.copyItem(at: files.checkpoint, to: kept) } catch {
                throw CheckpointError("cannot keep \(kept.path): \(FileErrorText.reason(error))")
            }
        }
        guard case .last(let count) = keep else { return }
        for epoch in files.keptEpochs().dropLast(count) { try? FileManager.default.removeItem(at: files.epochCheckpoint(epoch)) }
    }

    /// loss.png: every loss (the scores, which live in [0, 1], are left to losses.csv).
    private func writeLossChart(curves: [Int], epochs: Int, stepsPerEpoch: Int) throws {
        let chart = LossChart(title: "\(options.model) losses, epoch \(state.epoch) of \(epochs)",
                              series: curves.map { i in .init(name: statistics[i].name, values: history.map { $0[i] }) },
                              stepsPerEpoch: stepsPerEpoch)
        try PNG.write(try chart.render(), to: files.lossCurve.path)
    }

    /// Overwrites the initial weights of the networks `source` ("PATH" or
    /// "NETWORK=PATH") names with the file's.
    static func initialise(_ model: TrainingModel, config: ModelConfig, from source: String, on backend: Backend) throws -> [String] {
        let names = PyTorchNames(config)
        var (network, path): (String?, String) = (nil, source)
        if let equals = source.firstIndex(of: "="), names.networks.contains(String(source[..<equals])) {
            (network, path) = (String(source[..<equals]), String(source[source.index(after: equals)...]))
        }
        let (tensors, _, recorded) = try WeightsFile.read(path)
        let networks = network.map { [$0] } ?? WeightsFile.networks(in: tensors, recorded: recorded, config: config)
        return try WeightsFile.load(tensors, path: path, into: model, config: config, networks: networks, on: backend)
            .map { "--init-from: \($0)" }
    }

    /// One row of losses.csv. A write that fails (a full disk) stops the run
    /// with what is safe: the last checkpoint, and resuming drops any torn
    /// row past it.
    private func appendLosses(_ csv: FileHandle, _ row: String) throws {
        do {
            try csv.write(contentsOf: Data(row.utf8))
        } catch {
            let saved = FileManager.default.fileExists(atPath: files.checkpoint.path)
                ? "the last checkpoint, \(files.checkpoint.path), is intact: free some space and resume with --continue"
                : "no checkpoint was written yet: free some space and start again"
            throw DatasetError("cannot write \(files.losses.path) at step \(state.step): \(FileErrorText.reason(error)) (\(saved))")
        }
    }

    /// Creates the run folder if need be and writes a file in it.
    static func checkWritable(_ directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            // Foundation says only "error 512": find what stands in the way.
            var ancestor = directory.deletingLastPathComponent()
            var isFolder: ObjCBool = false
            while !FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isFolder), ancestor.path != "/" {
                ancestor = ancestor.deletingLastPathComponent()
            }
            let why = !isFolder.boolValue ? "\(ancestor.path) is a file, not a folder"
                : access(ancestor.path, W_OK) != 0 ? "\(ancestor.path) is not writable (\(String(cString: strerror(errno))))"
                : FileErrorText.reason(error)
            throw DatasetError("cannot create the run folder \(directory.path) (--out): \(why); choose another --out")
        }
        let probe = directory.appendingPathComponent(".atelier-write-test-\(getpid())")
        guard FileManager.default.createFile(atPath: probe.path, contents: Data()) else {
            throw DatasetError("cannot write in the run folder \(directory.path) (--out): \(String(cString: strerror(errno))); choose a folder you can write to")
        }
        try? FileManager.default.removeItem(at: probe)
    }

    /// The epoch's sheet: a GAN's images from fixed noise (8x8, or a row
    /// of 8 per class), or pix2pix's input | output | target rows.
    public func writeSampleSheet(epoch: Int) throws {
        try PNG.write(try task.sheet(seed: state.seed), to: files.sampleSheet(epoch: epoch).path)
    }

    /// losses.csv's first line: step, epoch, then one column per statistic.
    var lossHeader: String {
        (["step", "epoch"] + statistics.map { StepStatistics.column($0.name) }).joined(separator: ",")
    }

    /// The statistics of the first `step` steps of losses.csv, by its header
    /// (the columns are found by name, in `columns`' order).
    static func readLosses(_ url: URL, upTo step: Int, columns: [String]) throws -> [[Float]] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        let lines = text.split(separator: "\n")
        guard let header = lines.first?.split(separator: ",").map(String.init) else { return [] }
        let positions = columns.map { header.firstIndex(of: $0) }
        return lines.dropFirst().compactMap { line in
            let f = line.split(separator: ",")
            guard f.count == header.count, let s = Int(f[0]), s <= step else { return nil }
            return positions.map { $0.flatMap { Float(f[$0]) } ?? .nan }
        }
    }

    /// Temporary files of writes a crash or kill cut short (each write goes
    /// to one, then is renamed over its file; TemporaryFile knows their
    /// names). One run uses its folder at a time, so at its start they are
    /// all stale.
    static func removeLeftovers(_ files: RunFiles) -> [String] {
        var removed: [String] = []
        for folder in [files.directory, files.samples] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            for name in names.sorted() where isLeftover(name) {
                if (try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))) != nil {
                    removed.append(folder == files.directory ? name : "samples/" + name)
                }
            }
        }
        return removed
    }

    static func isLeftover(_ name: String) -> Bool { TemporaryFile.isLeftover(name) }

    /// losses.csv holds exactly the steps of the checkpoint being resumed.
    static func rewriteLosses(_ url: URL, header: String, keeping count: Int) throws {
        var text = header + "\n"
        if count > 0, let old = try? String(contentsOf: url, encoding: .utf8) {
            for line in old.split(separator: "\n").dropFirst().prefix(count) { text += line + "\n" }
        }
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}

/// Notices a run whose losses have run away while staying finite (a NaN
/// stops the run at once): a loss above `ceiling` for `patience` steps in a
/// row, as `--model dcgan --lr 10` gives (Loss_G near 1e6, Loss_D 0), is
/// said once, with what to try.
struct DivergenceWatch {
    static let ceiling: Float = 1e4, patience = 50
    private var streak = 0
    private var said = false

    mutating func observe(_ stats: StepStatistics) -> String? {
        guard !said else { return nil }
        let losses = zip(stats.names, zip(stats.kinds, stats.values)).filter { $0.1.0 != .score }
        guard let high = losses.first(where: { $0.1.1 > Self.ceiling }) else {
            streak = 0
            return nil
        }
        streak += 1
        guard streak >= Self.patience else { return nil }
        said = true
        let rest = losses.map { String(format: "%@ %.4g", $0.0, $0.1.1) }.joined(separator: ", ")
        return "warning: training has diverged: \(high.0) has stayed above \(Int(Self.ceiling)) for \(Self.patience) steps (\(rest)); the networks are no longer learning. Start again with a lower --lr (e.g. 2e-4) or another --gan-mode"
    }
}
