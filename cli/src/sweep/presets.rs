//! The paper's experiments as sweep files (`maxl-cli sweep --preset NAME --out DIR`), with the
//! hyper-parameters of its Appendix B and of the authors' CIFAR-100 code (MODELS.md): Table 1's
//! MNIST and CIFAR-10 rows, Figure 3 (every CIFAR-100 hierarchy pair, five methods) and
//! Appendix C (entropy weight 0.2 against 0).

/// A preset's name (as `--preset` takes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Table 1, MNIST: ConvNet-4, MAXL psi 2, 3, 5, 10 and single-task, 3 seeds (15 runs)
    Table1Mnist,
    /// Table 1, CIFAR-10: VGG-16, MAXL psi 2, 3, 5, 10 and single-task, 3 seeds (15 runs)
    Table1Cifar10,
    /// Figure 3: CIFAR-100, VGG-16, every hierarchy pair of {3,10,20,100}, MAXL, Random,
    /// K-Means, Human and single-task, 3 seeds (81 runs)
    Figure3Cifar100,
    /// Appendix C: MAXL on every CIFAR-100 hierarchy pair, entropy weight 0.2 and 0, 3 seeds
    /// (36 runs)
    AppendixCEntropy,
}

/// Appendix B: every data set but the 4-level CIFAR-100.
const PAPER_SGD: &str = r#"batch_size = 100
lr = 0.1                  # multi-task network: SGD, momentum 0.9, weight decay 5e-4,
momentum = 0.9            # cosine annealing (paper, Appendix B)
weight_decay = 0.0005
schedule = "cosine"
gen_lr = 0.001            # label generator: SGD 1e-3, weight decay 5e-4
gen_weight_decay = 0.0005
entropy_weight = 0.2      # lambda"#;

/// The authors' CIFAR-100 settings (their code, paper Appendix B and Section 4.3).
const CIFAR100_SETTINGS: &str = r#"dataset = "cifar100"
data_dir = "data/cifar-100"  # EDIT: the folder of cifar-100-binary/ (train.bin, test.bin)
model = "vgg16"
epochs = 200
batch_size = 100
lr = 0.01                 # multi-task network: SGD 0.01, no momentum, no regularisation
momentum = 0.0            # (Section 4.3), halved every 50 epochs
weight_decay = 0.0
schedule = "step"
gen_lr = 0.001            # label generator: SGD 1e-3, weight decay 5e-4
gen_weight_decay = 0.0005"#;

/// Every pair (primary level, finer auxiliary level) of CIFAR-100's 4-level hierarchy, with
/// a balanced psi of that many auxiliary classes in all (where it cannot be balanced, the
/// first primary classes take one more; the paper chose them at random).
const PAIRS: [(usize, usize, &str); 6] = [
    (3, 10, "4,3,3"),
    (3, 20, "7,7,6"),
    (3, 100, "34,33,33"),
    (10, 20, "2"),
    (10, 100, "10"),
    (20, 100, "5"),
];

fn pair_axis(with: impl Fn(usize, usize, &str) -> String) -> String {
    let items: Vec<String> = PAIRS
        .iter()
        .map(|(p, a, psi)| format!("  {{ {} }},", with(*p, *a, psi)))
        .collect();
    format!("[\n{}\n]", items.join("\n"))
}

fn psi_pairs() -> String {
    pair_axis(|p, _, psi| format!("primary_level = {p}, psi = \"{psi}\""))
}

/// Table 1's row of `dataset`: its data folder (with what it must hold), backbone and epochs.
struct Row {
    name: &'static str,
    dataset: &'static str,
    data_dir: &'static str,
    holds: &'static str,
    model: &'static str,
    epochs: usize,
}

fn table1(r: Row) -> String {
    let Row {
        name,
        dataset,
        data_dir,
        holds,
        model,
        epochs,
    } = r;
    format!(
        r#"# maxl-cli sweep file: the paper's Table 1, {dataset} row. MAXL with psi = 2, 3, 5, 10
# auxiliary classes per primary class against the single-task baseline, 3 runs each.
# The paper trains "until convergence" without saying how long: {epochs} epochs here (edit).
# Run: maxl-cli sweep THIS_FILE --out DIR [--local --jobs N | --slurm ...];
# then: maxl-cli report DIR
name = "{name}"

[settings]
dataset = "{dataset}"
data_dir = "{data_dir}"  # EDIT: the folder of {holds}
model = "{model}"
epochs = {epochs}
{PAPER_SGD}

[axes]
method = ["maxl"]
psi = [2, 3, 5, 10]
seed = [0, 1, 2]

[[runs]]                  # the single-task baseline
method = "single"
axes = {{ seed = [0, 1, 2] }}
"#
    )
}

fn figure3() -> String {
    format!(
        r#"# maxl-cli sweep file: the paper's Figure 3. CIFAR-100 with its 4-level hierarchy
# {{3, 10, 20, 100}}: for every pair (primary level, finer auxiliary level), MAXL, Random and
# K-Means with a balanced psi of that many auxiliary classes, Human with the finer level's
# labels, and the single-task baseline (once per primary level); 3 runs each, 200 epochs,
# the authors' CIFAR-100 settings.
# Run: maxl-cli sweep THIS_FILE --out DIR [--local --jobs N | --slurm ...];
# then: maxl-cli report DIR
name = "figure3-cifar100"

[settings]
{CIFAR100_SETTINGS}
entropy_weight = 0.2

[axes]
method = ["maxl", "random", "kmeans"]
hierarchy = {}
seed = [0, 1, 2]

[[runs]]                  # Human: the finer level's own labels
method = "human"
[runs.axes]
hierarchy = {}
seed = [0, 1, 2]

[[runs]]                  # single-task: one per primary level
method = "single"
[runs.axes]
primary_level = [3, 10, 20]
seed = [0, 1, 2]
"#,
        psi_pairs(),
        pair_axis(|p, a, _| format!("primary_level = {p}, aux_level = {a}")),
    )
}

fn appendix_c() -> String {
    format!(
        r#"# maxl-cli sweep file: the paper's Appendix C (Table 3). MAXL on every CIFAR-100
# hierarchy pair with the entropy term (lambda = 0.2) and without it (0); the report's
# utilisation column and figure give the share of auxiliary classes in use. 3 runs each,
# the authors' CIFAR-100 settings.
# Run: maxl-cli sweep THIS_FILE --out DIR [--local --jobs N | --slurm ...];
# then: maxl-cli report DIR
name = "appendix-c-entropy"

[settings]
{CIFAR100_SETTINGS}
method = "maxl"

[axes]
hierarchy = {}
entropy_weight = [0.2, 0.0]
seed = [0, 1, 2]
"#,
        psi_pairs()
    )
}

impl Preset {
    /// The sweep file's text.
    pub fn text(self) -> String {
        match self {
            Preset::Table1Mnist => table1(Row {
                name: "table1-mnist",
                dataset: "mnist",
                data_dir: "data/mnist",
                holds: "the MNIST idx files",
                model: "convnet4",
                epochs: 20,
            }),
            Preset::Table1Cifar10 => table1(Row {
                name: "table1-cifar10",
                dataset: "cifar10",
                data_dir: "data/cifar-10",
                holds: "cifar-10-batches-bin/",
                model: "vgg16",
                epochs: 200,
            }),
            Preset::Figure3Cifar100 => figure3(),
            Preset::AppendixCEntropy => appendix_c(),
        }
    }
}
